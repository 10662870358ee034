"""The People & Places view's painted parts: the sightings chart and the neighbourhood graph."""
