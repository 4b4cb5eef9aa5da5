from tests.conftest import micropython_executable


def test_micropython_runtime_is_installed_and_lacks_sha512(micropython):
    # The reason the firmware carries its own SHA-512: the board's hashlib has none.
    result = micropython.run("import hashlib\nprint(hasattr(hashlib, 'sha512'))")
    assert micropython_executable()
    assert result.stdout.strip() == "False"
