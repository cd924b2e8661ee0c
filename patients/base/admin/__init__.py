"""The admin base every app's pages stand on: clinic scoping, keys shown once."""
