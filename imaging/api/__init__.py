"""The imaging REST endpoints: exams with their findings."""
