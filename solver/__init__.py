"""Planning engine: tours in, validated rosters with a lower bound out.

Pure code: it takes and returns plain dataclasses and imports neither the
database layer nor Streamlit.
"""
