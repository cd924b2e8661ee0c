"""SMART Backend Services: the discovery document, the token endpoint (client credentials
with a signed JWT assertion) and the access tokens it issues; the JWT checks shared with
the CDS Hooks service. Keys come only from the JWK Sets stored on the rows: nothing here
goes to the network."""
