"""Tests of paysages.data.transfer: one file over HTTP from a local server (resume, retries, timeouts).
"""

from __future__ import annotations

import hashlib
import socket
import time

import pytest

from paysages.data import transfer
from paysages.data.transfer import download_file
from paysages.errors import DownloadError, OfflineError
from tests.helpers.http import closed_port


def big_payload(size: int = 300_000) -> bytes:
    return bytes((index * 7 + index // 251) % 256 for index in range(size))


@pytest.mark.network
def test_an_interrupted_transfer_is_resumed_with_a_range_request(server, tmp_path):
    payload = big_payload()
    route = server.add("/big.bin", payload, cut_after=100_000)
    destination = tmp_path / "big.bin"

    download_file(
        server.url("/big.bin"),
        destination,
        expected_sha256=hashlib.sha256(payload).hexdigest(),
        progress=False,
    )

    assert hashlib.sha256(destination.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert route.requests == [None, "bytes=100000-"]
    assert not (tmp_path / "big.bin.part").exists()


@pytest.mark.network
def test_a_server_that_ignores_range_still_gives_the_right_file(server, tmp_path):
    payload = big_payload()
    route = server.add("/big.bin", payload, cut_after=120_000, ignore_range=True)
    destination = tmp_path / "big.bin"

    download_file(server.url("/big.bin"), destination, expected_size=len(payload), progress=False)

    assert destination.read_bytes() == payload
    assert route.requests == [None, "bytes=120000-"]


@pytest.mark.network
def test_a_partial_file_left_by_an_earlier_run_is_resumed(server, tmp_path):
    payload = big_payload()
    route = server.add("/big.bin", payload)
    destination = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(payload[:77_777])

    download_file(server.url("/big.bin"), destination, expected_size=len(payload), progress=False)

    assert destination.read_bytes() == payload
    assert route.requests == ["bytes=77777-"]


@pytest.mark.network
def test_a_complete_partial_file_is_finished_without_downloading_again(server, tmp_path):
    payload = big_payload(10_000)
    route = server.add("/done.bin", payload)
    (tmp_path / "done.bin.part").write_bytes(payload)

    download_file(server.url("/done.bin"), tmp_path / "done.bin", progress=False)

    # The server answers 416 "bytes */10000": the partial file already is the whole file.
    assert route.requests == ["bytes=10000-"]
    assert (tmp_path / "done.bin").read_bytes() == payload


@pytest.mark.network
def test_a_server_error_is_retried_then_reported(server, tmp_path):
    route = server.add("/busy.bin", b"", status=503)
    with pytest.raises(DownloadError, match="gave up after 3 attempt.*HTTP 503"):
        download_file(server.url("/busy.bin"), tmp_path / "busy.bin", retries=2, progress=False)
    assert route.hits == 3
    assert not (tmp_path / "busy.bin").exists()


@pytest.mark.network
def test_a_transfer_that_keeps_failing_keeps_its_partial_file_for_later(server, tmp_path):
    payload = big_payload()
    server.add("/big.bin", payload, cut_after=50_000, cut_times=100)
    destination = tmp_path / "big.bin"

    with pytest.raises(DownloadError, match="gave up after 2 attempt") as raised:
        download_file(server.url("/big.bin"), destination, retries=1, progress=False)

    assert "is kept" in str(raised.value)
    assert not destination.exists()
    part = tmp_path / "big.bin.part"
    # Two cut transfers of 50,000 bytes each, the second one appended by resuming.
    assert part.read_bytes() == payload[:100_000]

    server.add("/healthy.bin", payload)
    download_file(
        server.url("/healthy.bin"), destination, expected_size=len(payload), progress=False
    )
    assert destination.read_bytes() == payload
    assert not part.exists()


@pytest.mark.network
def test_a_sha256_mismatch_leaves_no_file_behind(server, tmp_path):
    server.add("/file.bin", b"the wrong content" * 100)
    destination = tmp_path / "file.bin"

    with pytest.raises(DownloadError, match="sha256") as raised:
        download_file(
            server.url("/file.bin"), destination, expected_sha256="0" * 64, progress=False
        )

    assert "file.bin" in str(raised.value)
    assert not destination.exists()
    assert not (tmp_path / "file.bin.part").exists()


@pytest.mark.network
def test_a_git_lfs_pointer_falls_through_to_the_next_url(server, tmp_path):
    payload = big_payload(20_000)
    pointer = (
        b"version https://git-lfs.github.com/spec/v1\n"
        b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        b"size 20000\n"
    )
    lfs_route = server.add("/raw/data.zip", pointer)
    real_route = server.add("/media/data.zip", payload)
    destination = tmp_path / "data.zip"

    download_file(
        [server.url("/raw/data.zip"), server.url("/media/data.zip")], destination, progress=False
    )

    assert destination.read_bytes() == payload
    assert lfs_route.hits == 1 and real_route.hits == 1


@pytest.mark.network
def test_a_missing_file_on_every_mirror_is_a_download_error_not_offline(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as raised:
        download_file(
            [server.url("/a.zip"), server.url("/b.zip")], tmp_path / "a.zip", progress=False
        )
    assert not isinstance(raised.value, OfflineError)


@pytest.mark.network
def test_without_any_server_offline_error_comes_at_once(tmp_path):
    port = closed_port()
    start = time.monotonic()
    with pytest.raises(OfflineError, match="put it at"):
        download_file(
            [f"http://127.0.0.1:{port}/a.zip", f"http://127.0.0.1:{port}/b.zip"],
            tmp_path / "a.zip",
            retries=3,
            backoff=5.0,  # Retrying would take 35 s: the error must come without any retry.
            progress=False,
        )
    assert time.monotonic() - start < 3.0


@pytest.mark.network
def test_a_server_that_accepts_but_never_answers_is_a_read_timeout_retried(tmp_path):
    """Connected but no answer: is it retried on the read timeout, and not mistaken for no network?"""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # The kernel completes the connections; nobody ever answers.
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.zip"
    start = time.monotonic()
    try:
        with pytest.raises(DownloadError, match="gave up after 2 attempt") as raised:
            download_file(url, tmp_path / "slow.zip", retries=1, read_timeout=0.3, progress=False)
    finally:
        listener.close()
    elapsed = time.monotonic() - start
    assert not isinstance(raised.value, OfflineError)
    assert "gave up after 2 attempt" in str(raised.value) and "timed out" in str(raised.value)
    assert 0.5 < elapsed < 5.0


@pytest.mark.network
def test_a_connection_that_never_completes_is_offline_after_the_connect_timeout(tmp_path):
    """A server whose connection queue is full (SYNs dropped): OfflineError after the short connect timeout?"""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.3)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip("this system completes connections beyond a full listen queue")
        start = time.monotonic()
        with pytest.raises(OfflineError, match="no connection to 127.0.0.1 within 0.5 s"):
            download_file(
                f"http://127.0.0.1:{port}/a.zip", tmp_path / "a.zip", retries=3, backoff=5.0,
                connect_timeout=0.5, progress=False,
            )
        # No retry: one connect timeout, not four, and none of the 35 s of back-off.
        assert time.monotonic() - start < 2.0
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_default_timeouts_connect_quickly_and_read_patiently():
    assert transfer.CONNECT_TIMEOUT_SECONDS <= 10 < transfer.READ_TIMEOUT_SECONDS
