"""Stage `seqit generate`: Self-Seq (selfseq/), task-driven builders (taskdriven/), caption-then-answer, mixes."""
