"""The status page's settings: `web: {enabled, host, port, username, password}` in the gateway configuration."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator


class WebSettings(BaseModel):
    """Off unless enabled; on localhost unless `host` says otherwise; read-only unless a user name and password are
    configured (then the breaker and tariff controls work after logging in)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="serve the status page at http://HOST:PORT/")
    host: str = Field("127.0.0.1", min_length=1, description="address to listen on (0.0.0.0: every interface)")
    port: Annotated[int, Field(ge=1, le=65535)] = 8099
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="with `password`: who may operate the breaker and tariff from the page")
    password: SecretStr | None = Field(None, validate_default=True,
                                       description="at least 8 characters; without it the page is read-only")

    # On the password, not the model: an error is then reported on `web.password`, whose value is never echoed.
    @field_validator("password")
    @classmethod
    def _with_username(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if (info.data.get("username") is None) != (value is None):
            raise ValueError("username and password go together (neither: the page is read-only)")
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("at least 8 characters")
        return value

    @property
    def read_only(self) -> bool:
        return self.password is None
