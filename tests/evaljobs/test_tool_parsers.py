"""The checked-in tool-call parser names are the installed vLLM's."""

from evaljobs.tool_parsers import TOOL_CALL_PARSERS


def test_checked_in_parsers_match_vllms_registry() -> None:
    from vllm.tool_parsers import ToolParserManager

    assert set(ToolParserManager.list_registered()) == TOOL_CALL_PARSERS
