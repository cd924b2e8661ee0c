"""The ground floor: tenancy, patient records, levels, access, and the base every app
stands on (base/)."""
