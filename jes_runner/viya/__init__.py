"""Viya REST client: auth flow, retries, job submission, polling, orchestrator pages.

Public API::

    client = ViyaClient(url, Credentials(username=..., password=...))
    client.authenticate(); client.list_contexts(); client.submit_job({...})
    client.get_jobs(ids)            # one list request per ≤100 ids
    client.orchestrator_pages(500)  # newest first

Pass ``handler=`` (``PreparedRequest -> Response``) to replace the network.
"""

from jes_runner.viya._auth import (
    TOKEN_PATH,
    Credentials,
    TokenGrant,
    jwt_claims,
    jwt_expiry,
    request_token,
)
from jes_runner.viya._client import (
    ACTIVE_STATES,
    APPLICATION,
    EMULATOR_HEADER,
    PHASE_PROPERTY,
    RUN_ID_PROPERTY,
    TIMEOUT_PROPERTY,
    ViyaClient,
    job_property,
    job_request,
    job_run_id,
    parse_emulator_header,
    quote,
)
from jes_runner.viya._errors import (
    AuthError,
    SubmissionLost,
    ViyaError,
    ViyaHTTPError,
    ViyaUnreachable,
    user_errors,
)
from jes_runner.viya._retry import RetryPolicy
from jes_runner.viya._transport import Handler, RequestsTransport

__all__ = [
    "EMULATOR_HEADER",
    "parse_emulator_header",
    "ACTIVE_STATES",
    "APPLICATION",
    "PHASE_PROPERTY",
    "RUN_ID_PROPERTY",
    "TIMEOUT_PROPERTY",
    "job_property",
    "job_request",
    "job_run_id",
    "AuthError",
    "Credentials",
    "Handler",
    "RequestsTransport",
    "RetryPolicy",
    "SubmissionLost",
    "ViyaClient",
    "ViyaError",
    "ViyaHTTPError",
    "ViyaUnreachable",
    "TOKEN_PATH",
    "TokenGrant",
    "jwt_claims",
    "jwt_expiry",
    "quote",
    "request_token",
    "user_errors",
]
