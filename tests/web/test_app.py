from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

from crm_models.identity import verified_customer_id
from crm_models.settings import Settings
from tests.web.conftest import SECRET
from web.app import content_security_policy, create_app


def test_storefront_shows_shop_products_customers_and_widget(
    client: TestClient,
) -> None:
    response = client.get("/")

    assert response.status_code == 200
    page = response.text
    assert "<title>Test &amp; Sons Gifts</title>" in page
    # Merchandise with prices, title-cased; postage is not merchandise.
    assert "White Hanging Heart T-Light Holder" in page
    assert "£2.95" in page
    assert "£12.75" in page
    assert "Postage" not in page
    # The demo selector: guest plus the seeded demo customer, escaped.
    assert '<option value="">Guest (not signed in)</option>' in page
    assert '<option value="12347">Ada &lt;Lovelace&gt; (#12347)</option>' in page
    # The widget: one settings object and one script tag.
    assert '<script src="/static/widget.js" defer></script>' in page
    settings_json = page.split('id="shop-chat-settings">', 1)[1].split("</script>")[0]
    chat_settings = json.loads(settings_json)
    assert chat_settings["rasaUrl"] == "http://127.0.0.1:5999"
    assert chat_settings["apiBase"] == "/api/chat"
    assert chat_settings["productUrl"] == "/products/{stock_code}"
    # Products link to their page.
    assert 'href="/products/85123A"' in page
    csp = response.headers["content-security-policy"]
    assert "connect-src 'self' http://127.0.0.1:5999 ws://127.0.0.1:5999" in csp


def test_identity_of_a_demo_customer_is_signed(client: TestClient) -> None:
    response = client.get("/api/identity", params={"customer_id": "12347"})

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    metadata = response.json()
    assert metadata["customer_id"] == "12347"
    assert verified_customer_id(metadata, SECRET) == 12347
    assert verified_customer_id(metadata, "another-secret") is None


def test_identity_refuses_other_ids(client: TestClient) -> None:
    not_a_number = client.get("/api/identity", params={"customer_id": "abc"})
    missing = client.get("/api/identity")
    not_demo = client.get("/api/identity", params={"customer_id": "12348"})

    assert not_a_number.status_code == 400
    assert missing.status_code == 400
    assert not_demo.status_code == 404


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_widget_and_console_assets_are_served(client: TestClient) -> None:
    script = client.get("/static/widget.js")
    style = client.get("/static/widget.css")
    console = client.get("/static/console.js")

    assert script.status_code == 200
    assert "session_request" in script.text
    assert "user_uttered" in script.text
    # Messages are rendered as text only, in the widget and in the console.
    for text in (script.text, console.text):
        assert "innerHTML" not in text
        assert "insertAdjacentHTML" not in text
        assert "document.write" not in text
    assert style.status_code == 200


def test_a_product_page_for_the_cards_links(client: TestClient) -> None:
    page = client.get("/products/22423")
    missing = client.get("/products/POST")  # not merchandise

    assert page.status_code == 200
    assert "Regency Cakestand 3 Tier" in page.text
    assert "£12.75" in page.text
    assert 'id="shop-chat-settings"' in page.text
    assert missing.status_code == 404


def test_socket_io_client_is_served_from_node_modules(
    settings: Settings, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    bundle = tmp_path / "socket.io.min.js"
    bundle.write_text("/* socket.io */", encoding="utf-8")
    present = TestClient(
        create_app(settings, sessions=sessions, socket_io_client=bundle)
    )
    absent = TestClient(
        create_app(settings, sessions=sessions, socket_io_client=tmp_path / "none.js")
    )

    served = present.get("/static/vendor/socket.io.min.js")
    missing = absent.get("/static/vendor/socket.io.min.js")

    assert served.status_code == 200
    assert served.text == "/* socket.io */"
    assert "javascript" in served.headers["content-type"]
    assert missing.status_code == 404
    assert "npm ci" in missing.text


def test_page_renders_without_a_seeded_store(
    settings: Settings, tmp_path: Path
) -> None:
    from crm_models.store.db import session_factory

    empty = session_factory(f"sqlite:///{tmp_path / 'empty.db'}")
    response = TestClient(create_app(settings, sessions=empty)).get("/")

    assert response.status_code == 200
    assert "The catalogue is not loaded yet." in response.text


def test_csp_uses_secure_sockets_for_https_rasa() -> None:
    csp = content_security_policy("https://chat.example.test")

    assert "connect-src 'self' https://chat.example.test wss://chat.example.test" in csp
