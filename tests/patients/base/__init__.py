"""Tests of the base every app stands on (patients/base/)."""
