"""Scanned materials at the station: a page from the document camera normalised, watched for and attached to a case."""
