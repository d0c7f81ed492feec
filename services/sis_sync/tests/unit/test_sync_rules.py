import os
import time

from sis_sync_service.adapters.drop_folder import newest_exports
from sis_sync_service.domain.sync_rules import mass_deactivation_refusal


def test_deactivating_more_than_the_threshold_is_refused_unless_forced():
    assert mass_deactivation_refusal(100, 20, 0.2, forced=False) is None
    message = mass_deactivation_refusal(100, 21, 0.2, forced=False)
    assert "21 of 100" in message and "force=true" in message
    assert mass_deactivation_refusal(100, 100, 0.2, forced=True) is None


def test_a_district_without_active_users_has_nothing_to_protect():
    assert mass_deactivation_refusal(0, 0, 0.2, forced=False) is None


def test_the_drop_folder_offers_each_districts_newest_settled_zip(tmp_path):
    old, new, fresh = (tmp_path / "springfield" / n for n in ("a.zip", "b.zip", "c.zip"))
    old.parent.mkdir()
    (tmp_path / "not a district!").mkdir()
    for path, age in ((old, 100), (new, 50), (fresh, 0)):
        path.write_bytes(b"zip")
        os.utime(path, (time.time() - age, time.time() - age))
    (tmp_path / "springfield" / "notes.txt").write_text("x")
    found = newest_exports(tmp_path, settle_seconds=10)
    assert [(e.district_id, e.path.name) for e in found] == [("springfield", "b.zip")]
    os.utime(new, (time.time() - 40, time.time() - 40))
    assert newest_exports(tmp_path, settle_seconds=10)[0].fingerprint != found[0].fingerprint
