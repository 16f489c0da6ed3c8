"""Request and response shapes (pydantic), separate from the SQL in ``queries``."""
