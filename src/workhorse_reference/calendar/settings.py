"""Where the calendar sync reaches Google, and as whom.

Read from the environment (pydantic-settings); the two base URLs are settings so
tests (and a corporate proxy) can point them elsewhere:

- ``GOOGLE_CALENDAR_API_URL`` (default ``https://www.googleapis.com/calendar/v3``);
- ``GOOGLE_OAUTH_TOKEN_URL`` (default ``https://oauth2.googleapis.com/token``);
- ``GOOGLE_OAUTH_AUTH_URL`` (default ``https://accounts.google.com/o/oauth2/v2/auth``):
  the consent screen a user is sent to when connecting their calendar;
- ``GOOGLE_OAUTH_REVOKE_URL`` (default ``https://oauth2.googleapis.com/revoke``);
- ``GOOGLE_CLIENT_ID``, ``GOOGLE_CLIENT_SECRET``: the OAuth client the users'
  refresh tokens were issued to;
- ``GOOGLE_OAUTH_REDIRECT_URI``: where Google sends the user back after the consent
  screen, registered with the OAuth client (default: ``/api/calendar/callback`` on
  the URL the API was reached at; set it when the API is behind a proxy);
- ``GOOGLE_OAUTH_SUCCESS_URL``: where the browser is sent (303) once the calendar is
  connected (default: none, a small "Google Calendar connected" page);
- ``GOOGLE_CALENDAR_TIMEOUT`` (seconds per HTTP call, default 30),
  ``GOOGLE_CALENDAR_PAGE_SIZE`` (events per list page, default 250).
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "https://www.googleapis.com/calendar/v3"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
DEFAULT_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
DEFAULT_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
#: What the sync needs: read and write the events of the user's calendars.
SCOPE = "https://www.googleapis.com/auth/calendar.events"


class CalendarSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    api_url: str = Field(default=DEFAULT_API_URL, validation_alias="GOOGLE_CALENDAR_API_URL")
    token_url: str = Field(default=DEFAULT_TOKEN_URL, validation_alias="GOOGLE_OAUTH_TOKEN_URL")
    auth_url: str = Field(default=DEFAULT_AUTH_URL, validation_alias="GOOGLE_OAUTH_AUTH_URL")
    revoke_url: str = Field(default=DEFAULT_REVOKE_URL, validation_alias="GOOGLE_OAUTH_REVOKE_URL")
    redirect_uri: str = Field(default="", validation_alias="GOOGLE_OAUTH_REDIRECT_URI")
    success_url: str = Field(default="", validation_alias="GOOGLE_OAUTH_SUCCESS_URL")
    client_id: str = Field(default="", validation_alias="GOOGLE_CLIENT_ID")
    client_secret: SecretStr = Field(default=SecretStr(""), validation_alias="GOOGLE_CLIENT_SECRET")
    timeout: float = Field(default=30.0, gt=0, validation_alias="GOOGLE_CALENDAR_TIMEOUT")
    page_size: int = Field(default=250, ge=1, le=2500, validation_alias="GOOGLE_CALENDAR_PAGE_SIZE")
    # A stored access token this close to its expiry (seconds) is refreshed first.
    expiry_margin: float = Field(default=60.0, ge=0)
    # How long a connect URL's signed ``state`` stays valid (seconds).
    state_ttl: float = Field(default=600.0, gt=0)

    def check(self) -> None:
        """Refuse to call Google without a client: name the variables to set."""
        missing = [
            name
            for name, value in (
                ("GOOGLE_CLIENT_ID", self.client_id),
                ("GOOGLE_CLIENT_SECRET", self.client_secret.get_secret_value()),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"Google Calendar sync is not configured: set {' and '.join(missing)} "
                "(the OAuth client the users' calendars were connected with)"
            )
