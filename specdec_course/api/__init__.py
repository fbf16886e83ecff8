"""What student code may import: the course side of the student-facing API.

``results`` (``GenerationResult``), ``validation`` (input checks that name the fix), ``models``
(``load_pair``: a draft/target pair checked for a shared tokenizer) and ``batching`` (KV-cache
helpers for ragged batches). The task package ``specdec`` (student and reference alike) imports only from here.
May import: ``core``.
"""
