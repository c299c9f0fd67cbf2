"""The scripted Models API and a model-not-found error, read by the official Anthropic
Python SDK (a reference client: it validates the shapes the scripted server sends)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

import harness

anthropic = pytest.importorskip("anthropic", reason="the official anthropic SDK is in tests/requirements.txt")

MODELS = [{"id": f"claude-m-{i}", "display_name": f"M {i}", "created_at": "2026-01-0%dT00:00:00Z" % (1 + i % 9)}
          for i in range(5)]


def test_sdk_pages_the_models_list_and_sees_a_404_model_error(tmp_path, scripted_api_path):
    script = {
        "responses": [{"fault": "http_status", "status": 404, "error_type": "not_found_error",
                       "message": "model: claude-gone"}],
        "models": MODELS,
    }
    with harness.ScriptedApi(script, str(tmp_path), scripted_api_path) as api:
        client = anthropic.Anthropic(api_key="test-key", base_url=api.url, max_retries=0)
        page = client.models.list(limit=2)
        assert [m.id for m in page.data] == ["claude-m-0", "claude-m-1"]
        assert page.has_more is True and page.first_id == "claude-m-0" and page.last_id == "claude-m-1"
        assert page.data[0].type == "model" and page.data[0].display_name == "M 0"
        assert page.data[0].created_at.year == 2026
        # The SDK's own auto-paging follows after_id to the end.
        assert [m.id for m in client.models.list(limit=2)] == [m["id"] for m in MODELS]
        assert client.models.retrieve("claude-m-3").display_name == "M 3"
        with pytest.raises(anthropic.NotFoundError):
            client.models.retrieve("claude-gone")
        with pytest.raises(anthropic.NotFoundError) as err:
            client.messages.create(model="claude-gone", max_tokens=10,
                                   messages=[{"role": "user", "content": "hi"}])
        assert err.value.status_code == 404
        assert err.value.body["error"] == {"type": "not_found_error", "message": "model: claude-gone"}
        # Without a key the Models API answers 401 like the real one.
        req = urllib.request.Request(api.url + "/v1/models", headers={"anthropic-version": "2023-06-01"})
        with pytest.raises(urllib.error.HTTPError) as no_key:
            urllib.request.urlopen(req, timeout=5)
        assert no_key.value.code == 401
        assert json.loads(no_key.value.read())["error"]["type"] == "authentication_error"
