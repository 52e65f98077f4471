"""Storage rules that keep nothing lost and nothing duplicated, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from models.types import ModelIdentity, RadiologyReport, TaskName, TaskResult, TextValue
from plugin.storage import queries
from plugin.storage.db import make_engine, make_sessionmaker, session_scope, upgrade
from plugin.storage.tables import Report


def _sessions(url: str):  # type: ignore[no-untyped-def]
    upgrade(url)
    engine = make_engine(url)
    return engine, make_sessionmaker(engine)


def test_corrected_report_supersedes_and_keeps_the_earlier(db_url: str) -> None:
    engine, sessions = _sessions(db_url)
    first = RadiologyReport(report_id="r1", accession="ACC1", patient_id="p", findings="Nodule 6 mm.", impression="LR-3.")
    again = first.model_copy()
    corrected = RadiologyReport(report_id="r1", accession="ACC1", patient_id="p", status="corrected",
                                findings="Nodule 6 mm.", impression="LR-4.")
    with session_scope(sessions) as s:
        row1, new1 = queries.store_report(s, report=first, inbound_id=None)
        _, new_again = queries.store_report(s, report=again, inbound_id=None)
        row2, new2 = queries.store_report(s, report=corrected, inbound_id=None)
    assert (new1, new_again, new2) == (True, False, True)
    with session_scope(sessions) as s:
        rows = s.query(Report).filter_by(report_key="ACC1").order_by(Report.id).all()
        assert len(rows) == 2
        assert rows[0].superseded_by == rows[1].id and rows[1].superseded_by is None
        current = queries.current_reports_for_patient(s, patient_id="p")
        assert [r.id for r in current] == [row2.id]
    engine.dispose()


def test_a_draft_arriving_after_the_signed_report_is_kept_but_never_current(db_url: str) -> None:
    engine, sessions = _sessions(db_url)
    signed = RadiologyReport(report_id="r2", accession="ACC2", patient_id="p", status="final",
                             findings="Mass 2 cm.", impression="BI-RADS 4B.")
    draft = signed.model_copy(update={"status": "preliminary", "impression": "BI-RADS 4A."})
    amended = signed.model_copy(update={"status": "amended", "impression": "BI-RADS 4C."})
    with session_scope(sessions) as s:
        row_signed, _ = queries.store_report(s, report=signed, inbound_id=None)
        row_draft, new_draft = queries.store_report(s, report=draft, inbound_id=None)
        _, new_again = queries.store_report(s, report=draft, inbound_id=None)
        assert new_draft and not new_again and row_draft.superseded_by == row_signed.id
        assert [r.id for r in queries.current_reports_for_patient(s, patient_id="p")] == [row_signed.id]
        # A signed version after it (an amendment) still supersedes as before.
        row_amended, _ = queries.store_report(s, report=amended, inbound_id=None)
        assert [r.id for r in queries.current_reports_for_patient(s, patient_id="p")] == [row_amended.id]
    with session_scope(sessions) as s:
        rows = s.query(Report).filter_by(report_key="ACC2").order_by(Report.id).all()
        assert [r.status for r in rows] == ["final", "preliminary", "amended"]  # nothing lost
        assert rows[0].superseded_by == rows[2].id and rows[1].superseded_by == rows[0].id
    engine.dispose()


def test_queue_claims_each_message_once_across_workers(db_url: str) -> None:
    engine, sessions = _sessions(db_url)
    with session_scope(sessions) as s:
        ids = [queries.store_inbound(s, channel="mllp", raw=f"MSH|{i}".encode(), status="queued").id for i in range(12)]
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while True:
            with session_scope(sessions) as s:
                msg = queries.claim_next(s, worker_id=name)
                if msg is None:
                    return
                queries.finish_inbound(s, inbound_id=msg.id, status="done")
                with lock:
                    claimed.append(msg.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ids
    engine.dispose()


def test_task_result_is_stored_once(db_url: str) -> None:
    engine, sessions = _sessions(db_url)
    result = TaskResult(
        task=TaskName.impression_generation, value=TextValue(text="Normal."), confidence=0.5,
        model=ModelIdentity(model_id="m", backend="rules", role="rules"),
    )
    with session_scope(sessions) as s:
        a = queries.get_or_create_analysis(s, content_hash="h" * 64, manifest_version="v1")
        b = queries.get_or_create_analysis(s, content_hash="h" * 64, manifest_version="v1")
        assert a.id == b.id
        assert queries.save_result(s, analysis_id=a.id, result=result) is True
        assert queries.save_result(s, analysis_id=a.id, result=result) is False
        assert [r.task for r in queries.load_results(s, analysis_id=a.id)] == [TaskName.impression_generation]
    engine.dispose()


def test_migrations_build_exactly_the_tables_the_code_declares(db_url: str) -> None:
    """Alembic's autogenerate diff between the migrated database and tables.py is empty."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from plugin.storage.tables import Base

    engine, _sessions_ = _sessions(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
