"""What student code may import: the course side of the student-facing API.

``results`` (``GenerationResult``), ``validation`` (input checks that name the fix), ``models``
(``load_pair``: a draft/target pair checked for a shared tokenizer), ``batching`` (KV-cache
helpers for ragged batches), ``drafting`` (the ``Drafter`` interface) and ``trees`` (one forward
pass over a token tree, keeping one path). The task package ``specdec`` (student and reference
alike) imports only from here.
May import: ``core``.
"""
