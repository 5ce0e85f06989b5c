"""danlu's own error types: each message names the file, record or key and what was expected."""


class DanluError(Exception):
    """Base of every error danlu raises on purpose."""


class ConfigError(DanluError):
    """params.yaml or a -S override is wrong: unknown key, wrong type or value."""


class DataError(DanluError):
    """An input file or record is missing or unusable."""


class ValidationFailed(DanluError):
    """A data-quality gate (Great Expectations) rejected a stage's output."""

    def __init__(self, message: str, report_path: str | None = None):
        super().__init__(message)
        self.report_path = report_path


class TrackingError(DanluError):
    """MLflow tracking or the model registry could not do what was asked."""
