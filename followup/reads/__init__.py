"""What staff and integrations read about a patient, built from the records: the timeline
(timeline.py), the follow-up picture (picture.py, an SVG per surgery), the dashboard's
charts (charts.py) and the contrast decision beside a work-up (contrast_decisions.py,
decided by followup/rules/contrast.py). Reads only: nothing here writes."""
