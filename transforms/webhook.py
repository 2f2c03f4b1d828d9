"""Tally's webhook events as the raw submissions the API would list: one landing for both paths.

A `FORM_RESPONSE` event carries `data.fields[]` of `{key, label, type, value, options?}`, keys
like `question_<questionId>` (`question_<questionId>_<suffix>` for one hidden or calculated
field, or one checkbox option as a boolean). The API lists the same submission as
`responses[]` of `{questionId, answer}`, a hidden-fields question answering `{name: value}`.
This module turns the first into the second; `same_answers` says whether two contents of one
submission say the same thing, whatever path brought each (response ids, `answer` or `value`,
option ids or texts, order aside).
"""

from __future__ import annotations

from typing import Any

from schemas.errors import Unlandable
from transforms.mapping import NAMED_VALUES, readable

EVENT_TYPE = "FORM_RESPONSE"


class EventError(Unlandable):
    """An event that cannot become a submission (its reason, in French): the receiver refuses
    it (400), a run sets it aside."""


class NotForThisForm(EventError):
    """A well-formed event that is not a new response of the form bibia reads (another event
    type, another form): the receiver answers 422."""


def submission_of_event(event: Any, form_id: str | None = None) -> dict[str, Any]:
    """The submission an event carries, in the API's shape (`form_id`: the form bibia reads;
    an event of another form is refused)."""
    if not isinstance(event, dict):
        raise EventError("l'événement n'est pas un objet JSON")
    if event.get("eventType") != EVENT_TYPE:
        raise NotForThisForm(
            f"type d'événement {event.get('eventType')!r} : {EVENT_TYPE} seulement"
        )
    data = event.get("data")
    if not isinstance(data, dict):
        raise EventError("pas d'objet `data`")
    sid = data.get("submissionId") or data.get("responseId")
    if not isinstance(sid, str) or not sid:
        raise EventError("pas de `data.submissionId`")
    event_form = data.get("formId")
    if form_id is not None and event_form is not None and event_form != form_id:
        raise NotForThisForm(f"événement du formulaire {event_form!r}, pas de {form_id!r}")
    fields = data.get("fields")
    if not isinstance(fields, list):
        raise EventError("pas de liste `data.fields`")
    responses: list[dict[str, Any]] = []
    named: dict[str, dict[str, Any]] = {}  # question id -> {name: value} (hidden, calculated)
    for field in fields:
        if not isinstance(field, dict) or not isinstance(field.get("key"), str):
            raise EventError("un champ sans `key`")
        qid, _, suffix = field["key"].removeprefix("question_").partition("_")
        kind = str(field.get("type") or "")
        value = field.get("value")
        if kind in NAMED_VALUES:
            named.setdefault(qid, {})[str(field.get("label") or suffix)] = value
            continue
        if suffix:  # one checkbox option as a boolean: the question's own field lists them
            continue
        if value is None or value == "" or value == []:
            continue  # an unanswered question is absent, as in the API
        responses.append({"questionId": qid, "answer": value})
    for qid, values in named.items():
        responses.append({"questionId": qid, "answer": values})
    created = data.get("createdAt") or event.get("createdAt")
    return {
        "id": sid,
        "formId": data.get("formId"),
        "respondentId": data.get("respondentId"),
        "isCompleted": True,
        "submittedAt": created,
        "responses": responses,
    }


def same_answers(first: dict[str, Any], second: dict[str, Any], options: dict[str, str]) -> bool:
    """Whether two contents of one submission hold the same answers, read as a person would."""
    return _answers(first, options) == _answers(second, options)


def _answers(payload: dict[str, Any], options: dict[str, str]) -> dict[str, Any]:
    found = {}
    responses = payload.get("responses")
    for response in responses if isinstance(responses, list) else []:
        if not isinstance(response, dict):
            continue
        value = response["answer"] if "answer" in response else response.get("value")
        if (
            isinstance(value, list)
            and value
            and all(isinstance(v, dict) and "name" in v for v in value)
        ):  # named values as a list of {name, value}
            value = {str(v["name"]): v.get("value") for v in value}
        value = readable(value, "", options)
        if isinstance(value, list) and all(isinstance(v, str) for v in value) and len(value) == 1:
            value = value[0]  # a single choice as one item or as a bare text
        if value not in (None, "", [], {}):
            found[str(response.get("questionId", ""))] = value
    return found
