"""What each kind of workflow task needs in its ``params``, checked before it runs
(a task whose params do not fit fails at once, naming the field)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from workhorse.errors import UnrecoverableError

Kind = Literal["send_reminder", "create_follow_up", "set_status"]
Entity = Literal["quote", "invoice"]
#: The statuses a quote or an invoice may be given (the domain's lists).
STATUSES: dict[str, frozenset[str]] = {
    "quote": frozenset({"draft", "sent", "accepted", "rejected", "expired"}),
    "invoice": frozenset({"draft", "sent", "paid", "overdue", "cancelled"}),
}
_ADDRESS = r"^[^@\s<>]+@[^@\s<>]+$"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ReminderParams(_Params):
    """``send_reminder``: an e-mail ``to`` (default: the user's own address) with
    ``subject`` and ``body``, or about session ``sessionId`` (subject and body then
    default to the session's title, time and place)."""

    to: str | None = Field(default=None, pattern=_ADDRESS, max_length=320)
    subject: str | None = Field(default=None, min_length=1, max_length=500)
    body: str | None = Field(default=None, min_length=1)
    session_id: int | None = Field(default=None, alias="sessionId", ge=1)

    @model_validator(mode="after")
    def _something_to_say(self) -> ReminderParams:
        if self.session_id is None and (self.subject is None or self.body is None):
            raise ValueError("give subject and body, or a sessionId to remind of")
        return self


class FollowUpParams(_Params):
    """``create_follow_up``: a new task ``title`` of ``kind`` with ``params``, due in
    ``dueInDays`` days; it runs then (it depends on the task that created it)."""

    title: str = Field(min_length=1, max_length=300)
    due_in_days: int = Field(default=0, alias="dueInDays", ge=0, le=3660)
    kind: Kind = "send_reminder"
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _params_fit_kind(self) -> FollowUpParams:
        try:
            MODELS[self.kind].model_validate(self.params)
        except ValidationError as exc:
            raise ValueError(f"params do not fit kind {self.kind!r}: {_fields(exc)}") from None
        return self


class SetStatusParams(_Params):
    """``set_status``: give quote or invoice ``id`` the status ``status``."""

    entity: Entity
    id: int = Field(ge=1)
    status: str

    @model_validator(mode="after")
    def _known_status(self) -> SetStatusParams:
        allowed = STATUSES[self.entity]
        if self.status not in allowed:
            raise ValueError(
                f"status {self.status!r} is not one of a {self.entity}'s: {sorted(allowed)}"
            )
        return self


MODELS: dict[str, type[_Params]] = {
    "send_reminder": ReminderParams,
    "create_follow_up": FollowUpParams,
    "set_status": SetStatusParams,
}


def _fields(exc: ValidationError) -> str:
    return "; ".join(
        ".".join(["params", *(str(p) for p in e["loc"])]) + f": {e['msg']}" for e in exc.errors()
    )


def parse_params(task_id: str, kind: str, params: dict[str, Any]) -> BaseModel:
    """The task's params as its kind's model; ``UnrecoverableError`` naming the
    field (or the kind) when they do not fit."""
    model = MODELS.get(kind)
    if model is None:
        raise UnrecoverableError(
            f"workflow task {task_id!r}: kind: unknown kind {kind!r}; known: {sorted(MODELS)}"
        )
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise UnrecoverableError(f"workflow task {task_id!r} ({kind}): {_fields(exc)}") from None
