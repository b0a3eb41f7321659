"""The Growth team's dashboard: read-only queries over analytics.duckdb and the Streamlit app."""
