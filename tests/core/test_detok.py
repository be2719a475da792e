from qwen_tui.engine.generate.detok import REPLACEMENT, IncrementalDecoder

TEXT = "你好，世界！Emoji 😀🚀 and café ünïcödé 北京市 ❤️"


def test_streamed_pieces_never_split_characters(tokenizer):
    ids = tokenizer.encode(TEXT, add_special_tokens=False)
    # the test means something only if some single token is half a character
    assert any(REPLACEMENT in tokenizer.decode([i]) for i in ids)
    decoder = IncrementalDecoder(lambda xs: tokenizer.decode(xs))
    pieces = [decoder.push(i) for i in ids]
    pieces.append(decoder.flush())
    assert "".join(pieces) == TEXT
    assert not any(REPLACEMENT in p for p in pieces)
    assert sum(1 for p in pieces if p) > len(TEXT) // 4  # streamed, not all at the end


def test_flush_returns_held_back_bytes(tokenizer):
    ids = tokenizer.encode("😀", add_special_tokens=False)
    assert len(ids) > 1
    decoder = IncrementalDecoder(lambda xs: tokenizer.decode(xs))
    assert decoder.push(ids[0]) == ""
    assert decoder.flush() == tokenizer.decode(ids[:1])
