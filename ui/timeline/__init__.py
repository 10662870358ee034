"""The visual timeline's widgets (issue #19): the moment grid and the scrub bars; the page that
puts them together is :mod:`ui.pages.timeline`."""
