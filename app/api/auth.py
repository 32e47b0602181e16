"""Auth routes: register, login (+ MFA step), refresh, logout, TOTP enrolment."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from app.api.deps import CurrentUser, IdentityDep, SessionDep, client_ip
from app.api.problems import problem_responses
from app.schemas.auth import (
    LoginIn,
    MfaChallengeOut,
    MfaLoginIn,
    RefreshIn,
    RegisterIn,
    TokenPairOut,
    TotpConfirmIn,
    TotpConfirmOut,
    TotpDisableIn,
    TotpEnrollOut,
)
from app.schemas.users import UserOut
from app.services import mfa
from app.services.auth import AuthService, TokenPair
from app.services.users import get_user, view

router = APIRouter(prefix="/auth", tags=["auth"])


def _pair_out(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserOut,
             summary="Create a customer account", responses=problem_responses(409, 422, 429))
async def register(body: RegisterIn, session: SessionDep, identity: IdentityDep) -> UserOut:
    user = await AuthService(identity).register(session, email=str(body.email), password=body.password, name=body.name)
    return UserOut(**view(identity.security, user).__dict__)


@router.post(
    "/login", response_model=TokenPairOut | MfaChallengeOut,
    summary="Log in; MFA users get a challenge instead of tokens",
    responses=problem_responses(401, 422, 429),
)
async def login(body: LoginIn, request: Request, session: SessionDep, identity: IdentityDep) -> Any:
    outcome = await AuthService(identity).login(session, email=body.email, password=body.password, ip=client_ip(request))
    if outcome.mfa_token is not None:
        return MfaChallengeOut(mfa_token=outcome.mfa_token)
    return _pair_out(outcome.tokens)


@router.post("/login/mfa", response_model=TokenPairOut, summary="Second login step: the MFA code",
             responses=problem_responses(401, 422, 429))
async def login_mfa(body: MfaLoginIn, request: Request, session: SessionDep, identity: IdentityDep) -> TokenPairOut:
    pair = await AuthService(identity).login_mfa(session, mfa_token=body.mfa_token, code=body.code, ip=client_ip(request))
    return _pair_out(pair)


@router.post("/refresh", response_model=TokenPairOut,
             summary="Rotate a refresh token; replaying a used one revokes its whole family",
             responses=problem_responses(401, 422))
async def refresh(body: RefreshIn, request: Request, session: SessionDep, identity: IdentityDep) -> TokenPairOut:
    pair = await AuthService(identity).refresh(session, refresh_token=body.refresh_token, ip=client_ip(request))
    return _pair_out(pair)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             summary="End the session (revoke the token family)", responses=problem_responses(401, 422))
async def logout(body: RefreshIn, request: Request, session: SessionDep, identity: IdentityDep) -> Response:
    await AuthService(identity).logout(session, refresh_token=body.refresh_token, ip=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/mfa/totp/enroll", response_model=TotpEnrollOut, summary="Start TOTP enrolment (secret shown once)",
             responses=problem_responses(401, 403, 409))
async def totp_enroll(principal: CurrentUser, session: SessionDep, identity: IdentityDep) -> TotpEnrollOut:
    user = await get_user(session, principal.user_id)
    enrolment = await mfa.enroll(session, identity.security, user)
    return TotpEnrollOut(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/mfa/totp/confirm", response_model=TotpConfirmOut,
             summary="Confirm enrolment with a first code; returns recovery codes once",
             responses=problem_responses(401, 403, 409, 422))
async def totp_confirm(body: TotpConfirmIn, principal: CurrentUser, session: SessionDep,
                       identity: IdentityDep) -> TotpConfirmOut:
    user = await get_user(session, principal.user_id)
    codes = await mfa.confirm(session, identity.security, user, body.code)
    return TotpConfirmOut(recovery_codes=codes)


@router.post("/mfa/totp/disable", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             summary="Turn TOTP off (password and a current code needed)",
             responses=problem_responses(401, 403, 409, 422))
async def totp_disable(body: TotpDisableIn, principal: CurrentUser, session: SessionDep,
                       identity: IdentityDep) -> Response:
    user = await get_user(session, principal.user_id)
    await mfa.disable(session, identity.security, user, password=body.password, code=body.code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
