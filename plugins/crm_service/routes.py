"""The plugin's HTTP routes under ``/p/service/``: the survey link customers answer (the token
is the credential) and the web form that opens tickets (a per-form token)."""

from __future__ import annotations

from json import JSONDecodeError

from starlette.requests import Request
from starlette.responses import JSONResponse

from crm_graph.plugin import PUBLIC, PluginRoute, RouteContext, RouteError, to_global_id
from crm_service import surveys, webforms


async def _json(request: Request) -> object:
    try:
        return await request.json()
    except (JSONDecodeError, UnicodeDecodeError) as exc:
        raise RouteError(400, "INVALID_JSON", "the body is not JSON") from exc


async def answer_survey(request: Request, context: RouteContext) -> JSONResponse:
    """POST /p/service/surveys/{token} ``{"rating": 5, "comment": "..."}``: record the answer
    once. A reused (409 TOKEN_USED), expired (410 TOKEN_EXPIRED) or forged (400
    TOKEN_INVALID) link, or a bad rating (400), writes nothing."""
    body = await _json(request)
    try:
        async with context.app.write() as session:
            survey = await surveys.answer(session, context.app, request.path_params["token"], body)
    except surveys.SurveyGone as exc:
        status = 404 if exc.code == "NOT_FOUND" else 409
        raise RouteError(status, exc.code, str(exc)) from exc
    return JSONResponse(
        {
            "surveyId": to_global_id("Survey", survey.id),
            "kind": survey.kind,
            "rating": survey.rating,
        }
    )


async def submit_form(request: Request, context: RouteContext) -> JSONResponse:
    """POST /p/service/forms/{token} ``{"name", "email", "subject", "description"}``: open a
    ticket for the customer of that address (a new customer if none has it). A closed form
    answers 410 FORM_CLOSED; a bad post 400 with every problem; nothing is written then."""
    body = await _json(request)
    try:
        async with context.app.write() as session:
            ticket = await webforms.submit(session, context.app, request.path_params["token"], body)
    except webforms.FormClosed as exc:
        raise RouteError(410, "FORM_CLOSED", "this form no longer takes requests") from exc
    return JSONResponse({"ticketId": to_global_id("Ticket", ticket.id)}, status_code=201)


ROUTES = [
    PluginRoute("/forms/{token}", submit_form, permission=PUBLIC, methods=("POST",)),
    PluginRoute("/surveys/{token}", answer_survey, permission=PUBLIC, methods=("POST",)),
]
