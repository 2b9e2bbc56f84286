"""S3-compatible storage is a settings change away: the same capture, replay read and fixity audit
against a loopback S3 server (moto), with no code change."""

from __future__ import annotations

import pytest
from django.test import override_settings

from archive.capture.capture import capture
from archive.store.fixity import audit
from archive.store.snapshots import stored_response
from archive.store.warcstore import warc_storage
from tests.helpers import WATAN_URL, corpus_bytes

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket="naql-test")
    yield url
    server.stop()


def _s3_storages(endpoint: str) -> dict:
    from django.conf import settings

    return {**settings.STORAGES, "warcs": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "naql-test", "endpoint_url": endpoint, "access_key": "test",
                    "secret_key": "test", "region_name": "us-east-1", "location": "warcs",
                    "file_overwrite": False, "default_acl": None},
    }}


def test_capture_replay_and_verify_on_s3_compatible_storage(corpus_proxy, s3_endpoint):
    corpus_proxy.reset()
    with override_settings(STORAGES=_s3_storages(s3_endpoint), NAQL_CAPTURE_PROXY=corpus_proxy.proxy_url):
        assert type(warc_storage()).__name__ == "S3Storage"
        snap = capture(WATAN_URL, requisites=False).final
        assert warc_storage().exists(snap.warc_file.name)
        assert stored_response(snap).body == corpus_bytes("watan/article.v1.html")
        report = audit(snap.warc_file)
        assert report.ok and report.records_checked == 4, report.problems
        # an existing object is never overwritten: publishing the same name again is refused
        from archive.errors import ImmutableFileExists
        from archive.store.warcstore import WarcBuilder

        builder = WarcBuilder()
        builder.write_warcinfo()
        builder.first_date = snap.warc_file.created_at
        storage = warc_storage()
        storage_exists = storage.exists
        try:
            storage.exists = lambda name: True
            with pytest.raises(ImmutableFileExists):
                builder.publish()
        finally:
            storage.exists = storage_exists
