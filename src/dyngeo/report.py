"""The *paper vs this book* table that closes every chapter (a leaf of the library)."""

from IPython.display import Markdown


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def paper_vs_book(rows, scale_note=None):
    """Render rows ``(quantity, paper's value, this book's value[, note])`` as a Markdown table.

    Values computed by the chapter go straight in, so the table always shows what the code measured.
    """
    lines = ["| quantity | paper | this book | note |", "| --- | --- | --- | --- |"]
    for row in rows:
        if len(row) not in (3, 4):
            raise ValueError(f"each row is (quantity, paper, book[, note]); got {row!r}")
        quantity, paper, book, note = (*row, "")[:4]
        lines.append(f"| {quantity} | {_fmt(paper)} | {_fmt(book)} | {note} |")
    if scale_note:
        lines += ["", f"*{scale_note}*"]
    return Markdown("\n".join(lines))
