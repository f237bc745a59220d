import pytest

from twiml_server import TwimlServer


@pytest.fixture
def server():
    with TwimlServer({}) as s:
        yield s


@pytest.fixture
def config_file(tmp_path):
    """Write a config TOML from keyword sections: config_file(server={"auth_token": "x"})."""
    def write(**sections) -> str:
        lines = []
        for section, values in sections.items():
            lines.append(f"[{section}]")
            for key, value in values.items():
                lines.append(f"{key} = {value!r}".replace("'", '"') if isinstance(value, str) else f"{key} = {value}")
        path = tmp_path / "config.toml"
        path.write_text("\n".join(lines) + "\n")
        return str(path)
    return write
