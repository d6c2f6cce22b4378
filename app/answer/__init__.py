"""Answer composition: the prompt of retrieved clips (`prompt`), the OpenAI-compatible LMM client
(`lmm`), cited times mapped back to clips (`citations`), the extractive fallback (`extractive`)
and the orchestration the `/v1/ask` route calls (`service.Answerer`)."""
