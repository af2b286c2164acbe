"""Auth routes (register, login, refresh, logout, me) and the dependencies that guard every other route.

Errors are FastAPI's bare `{"detail": ...}`: 401 `Not authenticated` without a token, 401
`Could not validate credentials` for a bad, expired or revoked one, 403 for a missing role.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError

from stack import accounts
from stack.passwords import burn_verification, hash_password, verify_password
from stack.ratelimit import limited
from stack.tokens import InvalidToken

router = APIRouter(prefix="/api/auth", tags=["auth"])
_bearer = HTTPBearer(auto_error=False)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

NOT_AUTHENTICATED = HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})
BAD_CREDENTIALS = HTTPException(401, "Could not validate credentials", headers={"WWW-Authenticate": "Bearer"})


class Registration(BaseModel):
    email: str = Field(max_length=255)
    password: str = Field(min_length=8, max_length=100)
    full_name: str | None = Field(default=None, max_length=200)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value.strip()):
            raise ValueError("value is not a valid email address")
        return value


class Credentials(BaseModel):
    email: str = Field(max_length=255)
    password: str = Field(max_length=100)


class RefreshRequest(BaseModel):
    refresh_token: str


async def user_for_token(request: Request, token: str) -> tuple[dict, dict]:
    """The (user, claims) behind an access token; raises InvalidToken for anything amiss."""
    claims = await request.app.state.tokens.verify(token, "access")
    async with request.app.state.engine.connect() as conn:
        user = await accounts.find_by_id(conn, claims["sub"])
    if user is None or not user["is_active"]:
        raise InvalidToken("unknown or inactive user")
    return user, claims


async def current_session(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> tuple[dict, dict]:
    if credentials is None:
        raise NOT_AUTHENTICATED
    try:
        return await user_for_token(request, credentials.credentials)
    except InvalidToken:
        raise BAD_CREDENTIALS from None


CurrentSession = Annotated[tuple[dict, dict], Depends(current_session)]


async def current_user(session: CurrentSession) -> dict:
    return session[0]


CurrentUser = Annotated[dict, Depends(current_user)]


async def admin_reader(user: CurrentUser) -> dict:
    """Admin data may be read by `admin` and `viewer`."""
    if user["role"] not in ("admin", "viewer"):
        raise HTTPException(403, "Admin or viewer access required")
    return user


async def admin_writer(user: CurrentUser) -> dict:
    if user["role"] != "admin":
        raise HTTPException(403, "Admin access required")
    return user


AdminReader = Annotated[dict, Depends(admin_reader)]
AdminWriter = Annotated[dict, Depends(admin_writer)]


@router.post("/register", status_code=201, dependencies=[Depends(limited("register"))])
async def register(registration: Registration, request: Request) -> dict:
    state = request.app.state
    password_hash = await hash_password(registration.password, state.settings.bcrypt_rounds)
    try:
        async with state.engine.begin() as conn:
            if await accounts.find_by_email(conn, registration.email):
                raise HTTPException(400, "Email already registered")
            user = await accounts.create(conn, registration.email, password_hash, registration.full_name)
    except IntegrityError:  # a concurrent registration of the same email won the race
        raise HTTPException(400, "Email already registered") from None
    return accounts.user_reply(user)


@router.post("/login", dependencies=[Depends(limited("login"))])
async def login(credentials: Credentials, request: Request) -> dict:
    state = request.app.state
    async with state.engine.connect() as conn:
        user = await accounts.find_by_email(conn, credentials.email)
    if user is None:
        await burn_verification(credentials.password, state.settings.bcrypt_rounds)
        raise HTTPException(401, "Incorrect email or password", headers={"WWW-Authenticate": "Bearer"})
    if not await verify_password(credentials.password, user["password_hash"]):
        raise HTTPException(401, "Incorrect email or password", headers={"WWW-Authenticate": "Bearer"})
    if not user["is_active"]:
        raise HTTPException(401, "Account is disabled")
    async with state.engine.begin() as conn:
        await accounts.record_login(conn, user["id"])
    return state.tokens.issue(user).reply()


@router.post("/refresh", dependencies=[Depends(limited("refresh"))])
async def refresh(body: RefreshRequest, request: Request) -> dict:
    state = request.app.state
    try:
        claims = await state.tokens.verify(body.refresh_token, "refresh")
    except InvalidToken:
        raise HTTPException(401, "Invalid refresh token", headers={"WWW-Authenticate": "Bearer"}) from None
    async with state.engine.connect() as conn:
        user = await accounts.find_by_id(conn, claims["sub"])
    if user is None or not user["is_active"]:
        raise HTTPException(401, "Invalid refresh token", headers={"WWW-Authenticate": "Bearer"})
    await state.tokens.revoke_token(claims)  # rotation: a refresh token works once
    return state.tokens.issue(user, session_id=claims.get("sid")).reply()


@router.post("/logout")
async def logout(request: Request, session: CurrentSession) -> dict:
    _, claims = session
    await request.app.state.tokens.revoke_token(claims)
    await request.app.state.tokens.revoke_session(claims)
    return {
        "message": "Successfully logged out",
        "detail": "Access and refresh tokens of this session are revoked",
    }


@router.get("/me")
async def me(user: CurrentUser) -> dict:
    return accounts.user_reply(user)
