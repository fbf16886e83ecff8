"""The mutation table for Weeks 3 and 4 (W3D1-W3D3, W4D1, W4D3), applied by ``mutants.py``.

Same entries as ``mutant_table.py`` (W4D2's token-tree mutants live there): the day, the
``solutions/specdec`` module, the student bug in words, then a code snippet that occurs exactly
once in the module and its buggy replacement. Some bugs only the hidden tests
(``tests/hidden/test_wNdM_hidden.py``) catch: the default key at T > 0, several EOS ids, an
all-zero budget, validation the public tests never try. ``mutants.py`` runs the public tests
first and the hidden ones only for a survivor, and reports which kind killed each mutant.

May import: this package's ``mutant_table``.
"""

from __future__ import annotations

from specdec_course.authoring.mutant_table import M, Mutant

# The Week 1 idiom "split the key only when sampling", which crashes on key=None at T > 0.
_KEY_SPLIT = "        if key is not None:\n            key, sub = mx.random.split(key)\n"
_VERIFY_SPLIT = (
    "        if key is not None:\n            accept_key, sample_key = mx.random.split(key)\n"
    "        else:\n            accept_key = sample_key = None\n"
)
_DRAFT_SPLIT = "                draft_key, sub = split_key(draft_key)\n"

# fmt: off
MUTANTS: tuple[Mutant, ...] = (
    # ---- w3d1 ----------------------------------------------------------------------------
    M("w3d1", "ragged", "pads on the right instead of the left",
      "rows = [[pad_id] * p + list(s) for p, s in zip(padding, sequences, strict=True)]",
      "rows = [list(s) + [pad_id] * p for p, s in zip(padding, sequences, strict=True)]"),
    M("w3d1", "ragged", "prefill returns the first column's logits (padding for short rows)",
      "return cache, logits[:, -1, :].astype(mx.float32)",
      "return cache, logits[:, 0, :].astype(mx.float32)"),
    M("w3d1", "ragged", "sample_rows passes probabilities where categorical wants logits",
      "mx.random.categorical(mx.log(probs), axis=-1, key=key)",
      "mx.random.categorical(probs, axis=-1, key=key)"),
    M("w3d1", "ragged", "finished rows leave the live list but not the cache",
      "            filter_rows(cache, keep)\n",
      ""),
    M("w3d1", "ragged", "filter_rows with original row numbers instead of batch positions",
      "            filter_rows(cache, keep)\n",
      "            filter_rows(cache, [live[i] for i in keep])\n"),
    M("w3d1", "ragged", "the same key for every step",
      _KEY_SPLIT + "        else:\n            sub = None\n",
      "        sub = key\n"),
    M("w3d1", "ragged", "one row's EOS ends the whole batch",
      "        if not keep:\n            return results\n",
      "        if not keep or any(t in stop for t in tokens):\n            return results\n"),
    M("w3d1", "ragged", "a row with max_tokens=0 still enters the batch",
      "    live = [b for b in range(len(rows)) if budgets[b] > 0]\n",
      "    live = list(range(len(rows)))\n"),
    M("w3d1", "ragged", "splits the key only when sampling (key=None crashes at T > 0)",
      "if key is not None:",
      "if temperature > 0:"),
    M("w3d1", "ragged", "EOS compared with == (a list of EOS ids never stops a row)",
      "            if token in stop:\n",
      "            if token == eos_token_id:\n"),
    M("w3d1", "ragged", "no early return when every budget is 0",
      "    if not live:\n        return results\n",
      ""),
    M("w3d1", "ragged", "budget checked before EOS (an EOS as the last token reads 'length')",
      "            if token in stop:\n                results[b].finish_reason = \"eos\"\n"
      "            elif len(results[b].tokens) < budgets[b]:\n                keep.append(i)",
      "            if len(results[b].tokens) >= budgets[b]:\n                pass\n"
      "            elif token in stop:\n                results[b].finish_reason = \"eos\"\n"
      "            else:\n                keep.append(i)"),
    # ---- w3d2 ----------------------------------------------------------------------------
    M("w3d2", "batched_verify", "accepted_lengths counts every True, not the leading run",
      "return mx.sum(mx.cumprod(accept.astype(mx.int32), axis=1), axis=1).astype(mx.int32)",
      "return mx.sum(accept.astype(mx.int32), axis=1).astype(mx.int32)"),
    M("w3d2", "batched_verify", "greedy ignores num_draft (uncounted drafts can be accepted)",
      "n = accepted_lengths(live & (choices[:, :k] == drafts))",
      "n = accepted_lengths(choices[:, :k] == drafts)"),
    M("w3d2", "batched_verify", "residual max(0, q - p)",
      "residual = mx.maximum(p_n - q_n, 0.0)",
      "residual = mx.maximum(q_n - p_n, 0.0)"),
    M("w3d2", "batched_verify", "one uniform per position shared by all rows",
      "u = mx.random.uniform(shape=(batch, k), key=accept_key)",
      "u = mx.random.uniform(shape=(1, k), key=accept_key)"),
    M("w3d2", "batched_verify", "the bonus of a row with fewer drafts drawn from the residual",
      "        q_full = mx.where((positions < counts[:, None])[..., None], q_full, 0.0)\n",
      ""),
    M("w3d2", "batched_verify", "rejected drafts left after the extra token instead of -1",
      "tokens = mx.where(positions < n[:, None], padded, PLACEHOLDER)",
      "tokens = padded"),
    M("w3d2", "batched_verify", "draft probabilities at T = 1 whatever the temperature",
      "q = logits_to_probs(draft_logits, temperature)",
      "q = logits_to_probs(draft_logits, 1.0)"),
    M("w3d2", "batched_verify", "one uniform per row shared by all its positions",
      "u = mx.random.uniform(shape=(batch, k), key=accept_key)",
      "u = mx.random.uniform(shape=(batch, 1), key=accept_key)"),
    M("w3d2", "batched_verify", "the same key for the accept test and the correction draw",
      _VERIFY_SPLIT,
      "        accept_key = sample_key = key\n"),
    M("w3d2", "batched_verify", "splits key=None at T > 0 (crashes with the default key)",
      _VERIFY_SPLIT,
      "        accept_key, sample_key = mx.random.split(key)\n"),
    M("w3d2", "batched_verify", "a negative num_draft is let through",
      "(min(values) < 0 or max(values) > k)",
      "(max(values) > k)"),
    # ---- w3d3 ----------------------------------------------------------------------------
    M("w3d3", "batched", "rewinds a row by another row's count after rows left the batch",
      "stale = [k - accepted_list[i] for i in keep]",
      "stale = [k - accepted_list[j] for j in range(len(keep))]"),
    M("w3d3", "batched", "one row's EOS ends the whole batch",
      "        if not keep:\n            break\n",
      "        if not keep or any(results[b].finish_reason == \"eos\" for b in live):\n"
      "            break\n"),
    M("w3d3", "batched", "emits the whole verify row, placeholders (-1) included",
      "emitted = out_rows[i][: n + 1]",
      "emitted = out_rows[i]"),
    M("w3d3", "batched", "pending draft tokens ctx[-1:] instead of ctx[-2:]",
      "pending = mx.array([contexts[b][-2:] for b in live], dtype=mx.int32)",
      "pending = mx.array([contexts[b][-1:] for b in live], dtype=mx.int32)"),
    M("w3d3", "batched", "never rewinds the draft cache",
      "            rewind_rows(draft_cache, stale)\n",
      ""),
    M("w3d3", "batched", "rewinds the draft cache by K - 1 - n instead of K - n",
      "            rewind_rows(draft_cache, stale)\n",
      "            rewind_rows(draft_cache, [max(s - 1, 0) for s in stale])\n"),
    M("w3d3", "batched", "filter_rows with original row numbers instead of batch positions",
      "            filter_rows(target_cache, keep)\n",
      "            filter_rows(target_cache, [live[i] for i in keep])\n"),
    M("w3d3", "batched", "the same key for every draft step",
      _DRAFT_SPLIT,
      "                sub = draft_key\n"),
    M("w3d3", "batched", "K capped by the SHORTEST remaining budget",
      "k = min(k_max, max(remaining) - 1)",
      "k = min(k_max, min(remaining) - 1)"),
    M("w3d3", "batched", "EOS looked for only in the round's last emitted token",
      "            for j, token in enumerate(emitted):\n",
      "            for j, token in [(len(emitted) - 1, emitted[-1])]:\n"),
    M("w3d3", "batched", "draft_calls grown by the row's own draft count, not K",
      "            res.draft_calls += k\n",
      "            res.draft_calls += counts[i]\n"),
    M("w3d3", "batched", "splits the draft key only when sampling (key=None crashes)",
      _DRAFT_SPLIT,
      "                if temperature > 0:\n"
      "                    draft_key, sub = mx.random.split(draft_key)\n"
      "                else:\n                    sub = None\n"),
    M("w3d3", "batched", "prefills the draft even when no round drafts (K = 0)",
      "        if k > 0:\n            if draft_cache is None:",
      "        if draft_cache is None:\n"
      "            draft_cache, _ = batched_prefill(draft_model, prefixes, pad_id=PAD_ID)\n"
      "            for b in live:\n"
      "                results[b].draft_calls += 1 if any(prefixes) else 0\n"
      "            pending = last\n"
      "        if k > 0:\n            if False:"),
    # ---- w4d1 ----------------------------------------------------------------------------
    M("w4d1", "ngram", "the n-gram match prefers the oldest occurrence",
      "        for start in range(length - n - 1, -1, -1):\n",
      "        for start in range(0, length - n):\n"),
    M("w4d1", "ngram", "the n-gram match tries the shortest n first",
      "for n in range(min(max_ngram, length - 1), min_ngram - 1, -1):",
      "for n in range(min_ngram, min(max_ngram, length - 1) + 1):"),
    M("w4d1", "ngram", "the n-gram match may be the context's own tail",
      "        for start in range(length - n - 1, -1, -1):\n",
      "        for start in range(length - n, -1, -1):\n"),
    M("w4d1", "ngram", "one-hot logits with -inf (NaN after max-subtraction)",
      "return mx.where(hit, 0.0, ONE_HOT_OFF).astype(mx.float32)",
      "return mx.where(hit, 0.0, -mx.inf).astype(mx.float32)"),
    M("w4d1", "lookup", "rewinds the target cache one position short",
      "        rewind(cache, len(context) - 1)\n",
      "        rewind(cache, len(context))\n"),
    M("w4d1", "lookup", "records K as drafted when the proposal was shorter",
      "result.record_round(len(drafts), n)",
      "result.record_round(k, n)"),
    M("w4d1", "lookup", "ModelDrafter feeds only the last token after a full acceptance",
      "pending = context[self.cache[0].offset :]",
      "pending = context[-1:]"),
    M("w4d1", "lookup", "verifies greedily at T > 0 (temperature not passed on)",
      "drafts, target_logits, draft_logits, temperature=temperature, key=verify_key",
      "drafts, target_logits, draft_logits, key=verify_key"),
    M("w4d1", "lookup", "never resets the drafter before generating",
      "    drafter.reset()\n    result = GenerationResult()",
      "    result = GenerationResult()"),
    M("w4d1", "ngram", "NgramDrafter.reset zeroes draft_calls but not hits / misses",
      "        self.draft_calls = self.hits = self.misses = 0\n",
      "        self.draft_calls = 0\n"),
    M("w4d1", "ngram", "a k = 0 request counted as a miss",
      "        if k > 0:\n            if tokens:\n                self.hits += 1\n"
      "            else:\n                self.misses += 1\n",
      "        if tokens:\n            self.hits += 1\n"
      "        else:\n            self.misses += 1\n"),
    M("w4d1", "lookup", "falls back when the n-gram proposes fewer than k tokens",
      "if tokens or k == 0:",
      "if len(tokens) == k:"),
    M("w4d1", "lookup", "prefills the target even for max_tokens = 0",
      "    if max_tokens == 0:\n        return result\n",
      ""),
    # ---- w4d3 ----------------------------------------------------------------------------
    M("w4d3", "fastloop", "syncs once per draft token (mx.eval instead of mx.async_eval)",
      "mx.async_eval(step)",
      "mx.eval(step)"),
    M("w4d3", "fastloop", "greedy_verdict sums the matches instead of the leading run",
      "n = mx.sum(mx.cumprod(matches)) if k else",
      "n = mx.sum(matches) if k else"),
    M("w4d3", "fastloop", "emits the verdict's count n as a token",
      "emitted = verdict[1 : n + 2]",
      "emitted = verdict[: n + 1]"),
    M("w4d3", "fastloop", "never trims the draft cache",
      "            rewind(draft_cache, len(context) - 1)\n",
      ""),
    M("w4d3", "fastloop", "does not cap K near max_tokens",
      "k = min(lookahead, max_tokens - len(result.tokens) - 1)",
      "k = lookahead"),
    M("w4d3", "fastloop", "a round with nothing drafted is not recorded",
      "            result.record_round(0, 0)\n",
      ""),
    M("w4d3", "fastloop", "trims the target cache one position short",
      "        rewind(target_cache, len(context) - 1)\n",
      "        rewind(target_cache, len(context))\n"),
    M("w4d3", "fastloop", "EOS compared with == (a list of EOS ids never stops)",
      "            if token in stop:\n",
      "            if token == eos_token_id:\n"),
    M("w4d3", "fastloop", "checks the target's cache can be trimmed but not the draft's",
      "    check_trimmable(draft_model, \"draft\")\n",
      ""),
    M("w4d3", "fastloop", "does not validate max_tokens",
      "    check_count(max_tokens, \"max_tokens\")\n",
      ""),
    M("w4d3", "fastloop", "greedy_verdict never checks that the draft is 1-D",
      "    if draft_tokens.ndim != 1:\n        raise",
      "    if False:\n        raise"),
)
# fmt: on
