"""The one exception handlers raise to answer with a provider-shaped error."""


class ApiError(Exception):
    """An error answer; each emulated API renders it in its own provider's JSON shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        retry_after: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after  # seconds, sent as the retry-after header when set
        self.param = param  # the offending request field, for OpenAI's error "param"
