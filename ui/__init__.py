"""Streamlit rendering helpers shared by pages (may import streamlit; never torch and friends)."""
