"""One account never sees another's rows through the scoped query functions."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from realtime.store.database import Store
from realtime.store.models import (
    Account,
    Caller,
    Campaign,
    DialerMode,
    LeadList,
    ListRejection,
    Note,
    PossibleResponse,
    Question,
    Script,
    ScriptText,
    Transfer,
    TransferType,
)
from realtime.store.scoping import get_owned, scoped

# Account-scoped rows, and rows owned through a parent (script parts, responses, rejections).
MODELS = (Account, Campaign, Caller, Script, ScriptText, Question, PossibleResponse, Note,
          Transfer, LeadList, ListRejection)


async def populate(store: Store, name: str) -> dict[type, int]:
    """One row of each model for a new account; returns their ids by model."""
    async with store.transaction() as session:
        account = Account(name=name, api_key=f"ak_{name}", api_secret="s")
        session.add(account)
        await session.flush()
        script = Script(account_id=account.id, name=f"{name} script",
                        texts=[ScriptText(content="Hello")], notes=[Note(text="Note")],
                        questions=[Question(text="Q", responses=[PossibleResponse(value="Yes", keypad="1")])],
                        transfers=[Transfer(label="T", phone="+15555550100", transfer_type=TransferType.COLD)])
        session.add(script)
        await session.flush()
        campaign = Campaign(account_id=account.id, name=f"{name} campaign",
                            dialer_mode=DialerMode.POWER, script_id=script.id)
        session.add(campaign)
        await session.flush()
        caller = Caller(account_id=account.id, username=f"{name}-caller", pin="123456", campaign_id=campaign.id)
        lead_list = LeadList(account_id=account.id, campaign_id=campaign.id, name=f"{name} list")
        session.add_all([caller, lead_list])
        await session.flush()
        rejection = ListRejection(lead_list_id=lead_list.id, row_number=2, reason="no phone")
        session.add(rejection)
        await session.flush()
        question = script.questions[0]
        return {Account: account.id, Campaign: campaign.id, Caller: caller.id, Script: script.id,
                ScriptText: script.texts[0].id, Question: question.id,
                PossibleResponse: question.responses[0].id, Note: script.notes[0].id,
                Transfer: script.transfers[0].id, LeadList: lead_list.id, ListRejection: rejection.id}


async def test_scoped_queries_return_only_the_accounts_rows(store: Store) -> None:
    acme, other = await populate(store, "acme"), await populate(store, "other")
    async with store.sessions() as session:
        for model in MODELS:
            ids = (await session.scalars(scoped(model, acme[Account]))).all()
            assert [row.id for row in ids] == [acme[model]], model.__name__
        # Columns of a model are scoped like the model.
        usernames = await session.execute(scoped(select(Caller.id, Caller.username), other[Account]))
        assert usernames.all() == [(other[Caller], "other-caller")]


async def test_get_owned_refuses_another_accounts_row(store: Store) -> None:
    acme, other = await populate(store, "acme"), await populate(store, "other")
    async with store.sessions() as session:
        for model in MODELS:
            mine = await get_owned(session, model, acme[model], acme[Account])
            assert mine is not None and mine.id == acme[model], model.__name__
            assert await get_owned(session, model, other[model], acme[Account]) is None, model.__name__
            assert await get_owned(session, model, 10**9, acme[Account]) is None


def test_statements_without_a_model_are_refused() -> None:
    with pytest.raises(TypeError):
        scoped(select(1), 1)
