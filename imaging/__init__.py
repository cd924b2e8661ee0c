"""Imaging exams and their findings; stands on patients only."""
