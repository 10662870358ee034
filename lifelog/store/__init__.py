"""The floor: plumbing every other layer stands on, and nothing above it is imported here.

* ``db`` — the LanceDB tables and their Arrow schemas (``Store``);
* ``vault`` — AES-256-GCM encryption of blobs and short texts, the key in the OS keyring or
  derived from a passphrase;
* ``lock`` — the single writer (``write_lock``) and the one cancellable wait for it;
* ``sql`` — filter literals, ``IN`` lists, time windows;
* ``files`` — atomic writes; ``scratch`` — the private folder for decrypted files given out as paths;
* ``terms`` and ``blind_index`` — word normalisation and the keyed-hash term index that speech
  and OCR share.
"""
