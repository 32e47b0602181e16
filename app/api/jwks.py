"""Public signing keys: every key in the keyset, so any live token can be verified."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from app.api.deps import security_of
from app.api.problems import problem_responses
from app.core.errors import ServiceUnavailable
from app.core.security.keys import KeysetError

router = APIRouter(tags=["auth"])


class Jwks(BaseModel):
    keys: list[dict[str, str]]


@router.get("/.well-known/jwks.json", response_model=Jwks, summary="Public keys that verify access tokens",
            responses=problem_responses(503))
async def jwks(request: Request, response: Response) -> Jwks:
    try:
        document = security_of(request).keys.jwks()
    except KeysetError:
        raise ServiceUnavailable("signing keys are not loaded") from None
    # Short cache: verifiers must see a newly published key well before it starts signing.
    response.headers["Cache-Control"] = "public, max-age=60"
    return Jwks(**document)
