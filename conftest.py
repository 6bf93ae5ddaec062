"""Let nbval collect Jupytext MyST notebooks (``exercises/*.md``, ``solutions/*.md``) directly."""

import jupytext
import nbformat
import nbval.plugin


class _JupytextNbformat:
    """The ``nbformat`` module as nbval sees it, reading ``.md`` files through Jupytext."""

    def __getattr__(self, name):
        return getattr(nbformat, name)

    @staticmethod
    def read(path, *args, **kwargs):
        if str(path).endswith(".md"):
            return jupytext.read(str(path))
        return nbformat.read(path, *args, **kwargs)


nbval.plugin.nbformat = _JupytextNbformat()


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and file_path.suffix == ".md" and file_path.parent.name in ("exercises", "solutions"):
        return nbval.plugin.IPyNbFile.from_parent(parent, path=file_path)
    return None
