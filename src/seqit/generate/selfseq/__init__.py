"""Self-Seq: a teacher LLM turns single instructions into sequential ones (classify A/B/C/D, rewrite,
validate, respond, iterate). Parsers and prompts are pure; `pipeline.run_seed` chains them per seed.

    from seqit.generate.selfseq import parse_option, parse_new_instruction
"""

from seqit.generate.selfseq.parse import (
    is_placeholder,
    parse_extraction,
    parse_new_instruction,
    parse_option,
    parse_verdict,
)

__all__ = ["is_placeholder", "parse_extraction", "parse_new_instruction", "parse_option", "parse_verdict"]
