"""Places: where episodes happened, from GPS in the files or recurring scenes (docs/places.md)."""

from lifelog.places.cluster import PlaceParams
from lifelog.places.service import PlaceInfo, Places, PlacesError, RefreshReport, Visit

__all__ = ["PlaceInfo", "PlaceParams", "Places", "PlacesError", "RefreshReport", "Visit"]
