from tests.accounting._server import _fake_server_session, fake_server

__all__ = ["_fake_server_session", "fake_server"]
