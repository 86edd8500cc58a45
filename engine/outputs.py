"""All the files of one run, put in place together or not at all (QGIS-free).

A run writes every output (raster, side files, style, report, palette) into a private
``.palettize-XXXX`` folder beside its final place; ``commit()`` moves them all into place at the
end, and ``discard()`` (or a failed commit) leaves the disk as it was: no staged file, no
temporary folder, no folder the run created, and files it would have replaced restored.
"""

import codecs
import contextlib
import os
import re
import shutil
import sys
import threading
import time
import uuid

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

STAGING_PREFIX = ".palettize-"
_thread = threading.local()


@contextlib.contextmanager
def staging_tag(tag):
    """Name the staging folders this thread makes .palettize-<tag>-XXXX while the block runs: a
    batch whose worker processes are stopped in the middle of a task finds what they left by its
    tag (remove_tagged) and removes it."""
    _thread.tag = tag
    try:
        yield
    finally:
        _thread.tag = None


#: The folder in a staging folder where its commit keeps the files it replaces until it has ended.
REPLACED = ".replaced"
#: The file in a staging folder its run holds locked while it lives (see sweep_abandoned).
OWNER = ".owner"
#: The file listing the outputs a commit is putting in place, there until it has ended (see _undo_commit).
PLACING = ".placing"
#: What a staging folder holds besides the staged outputs: no output may have these names.
OWN_ENTRIES = (REPLACED, OWNER, PLACING)
#: A staging folder whose owner file is younger than this is never taken for abandoned: its run may
#: not have locked it yet.
ABANDONED_AFTER = 10.0
_UNTAGGED = re.compile(re.escape(STAGING_PREFIX) + "[0-9a-f]{8}$")
_SWEPT = set()  # the folders this process has swept (see sweep_abandoned)


def _staging_prefix(tag):
    return STAGING_PREFIX + tag + "-" if tag else STAGING_PREFIX


def remove_tagged(folder, tag):
    """Remove the staging folders with ``tag`` in ``folder`` (see staging_tag)."""
    for staging in _tagged(folder, tag):
        shutil.rmtree(staging, ignore_errors=True)


def put_back_replaced(folder, tag, names):
    """After a batch's task was stopped in the middle (its worker process stopped): where a staging
    folder with ``tag`` in ``folder`` holds the list of a commit of ``names`` that had begun and
    not ended, that commit is undone (see _undo_commit). A task stopped before its commit, or
    after it (as its staging folder was being removed), left the outputs as they were, or whole."""
    for staging in _tagged(folder, tag):
        if names & _placing(staging):
            _undo_commit(staging, folder)


def _placing(staging):
    """The names a commit from ``staging`` was putting in place, if it had begun and not ended."""
    try:
        with open(os.path.join(staging, PLACING), encoding="utf-8") as placing:
            return set(placing.read().splitlines())
    except OSError:  # its commit had not begun, or had ended
        return set()


def _undo_commit(staging, folder):
    """Undo the commit from ``staging`` into ``folder`` that a process killed in the middle of it
    left (see OutputFiles._move_into_place): the files it had moved aside go back in place, over
    those it had moved in, and those it had moved in where there was none are removed."""
    moved_aside = os.path.join(staging, REPLACED)
    aside = os.listdir(moved_aside) if os.path.isdir(moved_aside) else []
    placed = _placing(staging) - set(os.listdir(staging))  # moved in already
    for name in placed - set(aside):
        _remove(os.path.join(folder, name), folders=True)
    for name in aside:
        try:
            place = os.path.join(folder, name)
            if os.path.isdir(place) and not os.path.islink(place):  # a mosaic's tiles: no rename over a folder
                shutil.rmtree(place)
            os.replace(os.path.join(moved_aside, name), place)
        except OSError:  # the folder gone or read-only now: the rest still go back
            pass
    _remove(os.path.join(staging, PLACING))


def sweep_abandoned(folder):
    """Remove the staging folders in ``folder`` that no living run holds, once per process: a run
    killed outright (kill -9, the system out of memory, a SIGTERM to qgis_process) leaves its
    staging folder, a partial raster in it, and such folders piled up. A living run holds its
    folder's owner file locked (a file system without flock, such as NFS, never lets it be taken).
    One killed in the middle of its commit has its commit undone first, under the folder's lock
    (the earlier outputs back whole, see _undo_commit); one killed after it, as its staging folder
    was being removed, had put its outputs in place whole. A Dask batch's tasks' (tagged) are the
    batch's (see put_back_replaced)."""
    if fcntl is None or folder in _SWEPT:  # no flock (Windows): a living run's folder looks like a dead one's
        return
    _SWEPT.add(folder)
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        staging = os.path.join(folder, name)
        owner = os.path.join(staging, OWNER)
        try:
            if not _UNTAGGED.match(name) or time.time() - os.path.getmtime(owner) < ABANDONED_AFTER:
                continue
            with open(owner, "rb") as held:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while it is removed: no other run takes it
                if _placing(staging):
                    with _folders_locked([same_file_key(folder)]):  # no other run's commit meanwhile
                        _undo_commit(staging, folder)
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:  # no owner file (being made, or not a run's folder), or locked: a living run's
            continue


def _tagged(folder, tag):
    prefix = _staging_prefix(tag)
    return [os.path.join(folder, name) for name in (os.listdir(folder) if os.path.isdir(folder) else [])
            if name.startswith(prefix)]


def writable_path_problem(path):
    """Why a file cannot be written at ``path`` (a sentence), or '' when it can: the path must not
    be a folder, and its nearest existing folder must be a writable folder."""
    if path.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):  # 'classes/', which abspath would cut
        return "{} ends with a folder separator: it names a folder, not a file".format(path)
    problem = name_problem(path, "writes")
    if problem:
        return problem
    if os.path.basename(path) in OWN_ENTRIES:
        return "{} is a name Palettize keeps for its own files as it writes: choose another name".format(
            os.path.basename(path))
    if path.startswith("/vsi"):  # /vsimem would vanish with the process; none holds the staged files' moves
        return ("it is in GDAL's virtual file system /{}/, where Palettize does not write (its outputs are made "
                "beside their place and moved into it together); write to a folder on disk").format(path.split("/")[1])
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return "{} is a folder".format(path)
    if os.path.splitext(path)[1].lower() in SQLITE_EXTENSIONS:
        for suffix, what in SQLITE_SIDE_FILES.items():
            if os.path.isdir(path + suffix):  # SQLite could not open the file put in place beside it
                return ("the folder {} is beside it, where SQLite keeps the file's {}: SQLite, and QGIS with it, "
                        "could not open or edit the file written there (remove or rename that folder)").format(
                            path + suffix, what)
    too_long = length_problem(path)
    if too_long:
        return too_long
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "{} is read-only".format(path)
    existing = nearest_existing_folder(path)
    if os.path.exists(existing) and not os.path.isdir(existing):
        return "{} is a file, not a folder".format(existing)
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK | os.X_OK):
        return "{} is not a writable folder".format(existing)
    return ""


#: Bytes a run adds to an output's path: the staging folder .palettize-XXXXXXXX/ it is written in
#: first, and in it the .replaced/ folder keeping a file it replaces until the commit.
PATH_MARGIN = len(STAGING_PREFIX) + len("XXXXXXXX/") + len(".replaced/")


def length_problem(path, beside=()):
    """Why ``path`` (absolute) is too long for the files a run writes for it, or '': its name, or
    the name of a file written ``beside`` it (e.g. GDAL's <name>.aux.xml, which held the attribute
    table and went unwritten), longer than the file system allows, or a path too deep for the
    staging folder (the staged files were refused, naming it)."""
    folder = nearest_existing_folder(path)
    try:
        name_max, path_max = os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # no such limits to ask for (Windows)
        return ""
    longest = max([path] + list(beside), key=lambda name: len(os.fsencode(os.path.basename(name))))
    over = len(os.fsencode(os.path.basename(longest))) - name_max
    if over > 0:
        return "{} is {} longer than the {} bytes a name may have in its folder: shorten the name by {}".format(
            "its name" if longest == path else "the name of {}, written beside it,".format(os.path.basename(longest)),
            _bytes(over), name_max, _bytes(over))
    over = len(os.fsencode(path)) + PATH_MARGIN - path_max
    if over > 0:
        return ("its path is {} bytes, and writing it needs {} more (its files are made in a folder beside it first), "
                "beyond the {} bytes the system allows: shorten the path by {}".format(
                    len(os.fsencode(path)), PATH_MARGIN, path_max, _bytes(over)))
    return ""


def _bytes(count):
    return "{} byte{}".format(count, "" if count == 1 else "s")


def name_problem(path, verb="opens", rename=""):
    """Why GDAL cannot take ``path`` by the name Python gives it, or '' when it can (``verb``: what
    GDAL does with it, for the sentence; ``rename``: said after a name that is not UTF-8). Under a
    locale whose file names are not UTF-8 (LANG=C without Python's UTF-8 mode, de_DE.ISO-8859-1), a
    name that is not ASCII reaches GDAL as other bytes than the file's; and a name that is not UTF-8
    (a Latin-1 name unpacked from an old archive) comes to Python as text it cannot encode."""
    encoding = sys.getfilesystemencoding()
    if not path.isascii() and codecs.lookup(encoding).name != "utf-8":
        return ("its name is not ASCII, and this process's locale spells file names in {} where GDAL {} them in "
                "UTF-8: run with a UTF-8 locale (e.g. LC_ALL=C.UTF-8)".format(encoding, verb))
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not UTF-8 text, and GDAL {} only UTF-8 names{}".format(verb, rename)
    return ""


def same_file_key(path):
    """A key equal for two paths of the same file (links and letter case, where the system ignores
    it, resolved), existing or not."""
    return os.path.normcase(os.path.realpath(path))


#: A GDAL connection string (a subdataset: NETCDF:"file.nc":var, GTIFF_DIR:2:file.tif, HDF5:...),
#: which is no file's name; a drive letter (C:) is not one.
_CONNECTION = re.compile(r"[A-Za-z][A-Za-z0-9_]+:")


def connection_parts(path):
    """(file, [the other parts]) of a GDAL connection string (NETCDF:"r2.nc":rgb -> ('r2.nc', ['rgb'])),
    or None for a path that is no such string (a file that exists by that name included). The file
    is the longest run of parts naming one that exists (GTIFF_DIR:1:a:b.tif -> 'a:b.tif'), else the
    quoted part, else the last that looks like a file name."""
    if not _CONNECTION.match(path) or os.path.exists(path):
        return None
    tokens = re.findall(r'"[^"]*"|[^:]+', path[path.index(":") + 1:])
    parts = [token.strip('"') for token in tokens]
    if not parts:
        return None
    spans = sorted(((i, j) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)),
                   key=lambda span: (span[0] - span[1], -span[0]))  # longest first, then the later
    for i, j in spans:
        if os.path.exists(":".join(parts[i:j])):
            return ":".join(parts[i:j]), parts[:i] + parts[j:]
    quoted = [k for k, token in enumerate(tokens) if token.startswith('"')]
    named = [k for k, part in enumerate(parts) if "." in part]
    k = (quoted or named[-1:] or [len(parts) - 1])[0]
    return parts[k], parts[:k] + parts[k + 1:]


#: GDAL's subdataset prefixes whose file part is a file on disk (not a database or web address).
FILE_CONNECTIONS = ("NETCDF", "HDF5", "HDF4", "HDF4_SDS", "HDF4_EOS", "HDF4_GR", "GTIFF_DIR", "NITF_IM", "GPKG",
                    "GRIB", "ZARR", "PDF")


def connection_file(path):
    """The file inside a connection string whose file part is a file on disk (FILE_CONNECTIONS:
    GPKG:sheets.gpkg:north -> 'sheets.gpkg'), or None (a plain path, a database, a web address)."""
    parts = connection_parts(path)
    return parts[0] if parts and path.split(":", 1)[0].upper() in FILE_CONNECTIONS else None


def input_key(path):
    """same_file_key of the file an input reads (of the file inside a GDAL connection string)."""
    parts = connection_parts(path)
    return same_file_key(parts[0] if parts else path)


def nearest_existing_folder(path):
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return folder


#: Files SQLite keeps beside a database and reads as part of it (see OutputFiles._move_into_place):
#: suffix, what it holds.
SQLITE_SIDE_FILES = {"-wal": "write-ahead log", "-shm": "shared-memory index", "-journal": "rollback journal"}
#: Extensions of the SQLite files an output may be (a GeoPackage raster or table, MBTiles, SpatiaLite).
SQLITE_EXTENSIONS = (".gpkg", ".mbtiles", ".sqlite", ".sqlite3", ".db")


class OutputFiles:
    """Staging folders, one per destination folder, and what commit moves out of them."""

    def __init__(self):
        self._staging = {}  # destination folder -> its .palettize-XXXX folder
        self._created = []  # folders this run made, outermost first
        self._in_place = []  # files others wrote straight into place for this run
        self._obsolete = []  # files beside an output that would describe the file it replaces
        self._undo = []  # what to call if the run fails: undoing what others wrote into a file of the user's
        self._owners = []  # the owner files of the staging folders, held locked while the run lives

    def stage(self, target):
        """Where to write the file that ends up at ``target`` (files written beside it in the same
        staging folder, e.g. side files a GDAL driver adds, go into place with it). A folder staged
        there (a .vrt mosaic's tiles) replaces the folder at ``target`` as a whole."""
        return os.path.join(self.staging_folder(os.path.dirname(os.path.abspath(target))), os.path.basename(target))

    def staging_folder(self, folder):
        """This run's staging folder in ``folder``, made now if it has none there. Also a work folder
        (a mosaic's tiles, written by any worker, then staged elsewhere): one swept as any staging
        folder once its run is gone (see sweep_abandoned), removed by discard(), never committed."""
        if folder not in self._staging:
            self.make_folders(folder)
            tag = getattr(_thread, "tag", None)
            if tag is None:  # a batch's task never sweeps: its batch's work folders are in use (see Runner)
                sweep_abandoned(folder)
            prefix = _staging_prefix(tag)
            while True:  # named before it is made: a Ctrl-C just after it is made still finds it to remove
                self._staging[folder] = os.path.join(folder, prefix + uuid.uuid4().hex[:8])
                try:
                    os.mkdir(self._staging[folder], 0o700)
                    break
                except FileExistsError:
                    continue
            self._own(self._staging[folder])
        return self._staging[folder]

    def _own(self, staging):
        """Hold the owner file of ``staging`` locked while this run lives (see sweep_abandoned)."""
        owner = open(os.path.join(staging, OWNER), "wb")
        self._owners.append(owner)
        if fcntl is not None:
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a file system without locks: the folder is never taken for abandoned either
                pass

    def written_in_place(self, path):
        """A file written straight into place for this run (e.g. a table QGIS creates itself):
        removed if the run fails before its commit."""
        if path:
            self._in_place.append(path)

    def undo_on_failure(self, undo):
        """Call ``undo()`` if the run fails before its commit: for what was written into a file that
        is not the run's alone (a table added to the user's GeoPackage), which is never removed."""
        self._undo.append(undo)

    def _replaced(self, target):
        """Where the file at ``target`` that this run replaces is kept until its commit succeeds: in
        the staging folder of ``target``'s folder."""
        backup = os.path.join(os.path.dirname(self.stage(target)), REPLACED, os.path.basename(target))
        os.makedirs(os.path.dirname(backup), exist_ok=True)
        return backup

    def obsolete(self, path):
        """A file GDAL would read as part of the output it sits beside (external overviews or mask
        of the file being replaced): removed by commit unless staged, restored if commit fails."""
        self.stage(path)  # the staging folder keeps it until commit succeeds
        self._obsolete.append(os.path.abspath(path))

    def make_folders(self, folder):
        """Make ``folder`` and the folders above it that are missing (for a file others write
        straight into place, see written_in_place): removed, when empty, if the run fails."""
        missing = []
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            self._created.append(folder)  # before it is made, as a staging folder (see stage)
            try:
                os.mkdir(folder)
            except FileExistsError:  # made by another run at the same time: it is that run's to remove
                self._created.pop()

    def commit(self):
        """Move every staged file into place; on any failure undo the moves (restoring files they
        replaced), remove everything and raise OSError. Runs into the same folders commit one
        after the other (see _folders_locked)."""
        try:
            with _folders_locked(sorted({same_file_key(folder) for folder in self._staging})):
                self._move_into_place()
                for staging in self._staging.values():  # the commit has ended (see put_back_replaced)
                    _remove(os.path.join(staging, PLACING))
        except BaseException:
            self.discard()
            raise
        self._created = self._in_place = self._undo = []  # the folders now hold outputs
        self.discard()

    def _move_into_place(self):
        """commit's moves; on any failure (a Ctrl-C in the middle too) the files moved aside go back.
        Each move is noted before it is made: a stop (SIGTERM) raised just after a rename, before
        the note, left the user's file moved aside, removed with the staging folder, or a lone new
        file in place. Undoing a move not made finds no file, and leaves things as they are."""
        placed, replaced = [], []
        for staging in self._staging.values():  # for a process killed in the middle (see _undo_commit)
            try:
                with open(os.path.join(staging, PLACING), "w", encoding="utf-8") as placing:
                    placing.write("".join(name + "\n" for name in os.listdir(staging) if name not in OWN_ENTRIES))
            except OSError:  # a full disk: the renames need no room, and the outputs are complete
                _remove(os.path.join(staging, PLACING))
        try:
            for folder, staging in self._staging.items():
                for name in sorted(os.listdir(staging)):
                    if name in OWN_ENTRIES:
                        continue
                    target = os.path.join(folder, name)
                    if os.path.isdir(target) and not os.path.isdir(os.path.join(staging, name)):
                        raise OSError("{} is a folder: it cannot be replaced by a file".format(target))
                    if os.path.lexists(target):
                        backup = self._replaced(target)
                        replaced.append((backup, target))
                        os.replace(target, backup)
                    placed.append(target)  # the user's file there, if any, is aside now
                    os.replace(os.path.join(staging, name), target)
            # SQLite (a GeoPackage) reads a file's write-ahead log and hot journal as part of it: left
            # beside the file put in place (of a file replaced, or removed while a program had it
            # open), another program's changes not yet written into it went into the new one
            # (GeoPackages corrupt for good, or holding the earlier tables).
            journals = [target + suffix for target in placed for suffix in SQLITE_SIDE_FILES]
            for target in self._obsolete + journals:
                if os.path.isfile(target) and target not in placed:
                    backup = self._replaced(target)
                    replaced.append((backup, target))
                    os.replace(target, backup)
        except BaseException:
            for target in placed:
                _remove(target, folders=True)
            for backup, target in replaced:
                try:
                    os.replace(backup, target)
                except OSError:
                    pass
            raise

    def discard(self):
        """Remove the files written in place, undo what was written into the user's files, remove
        the staging folders and the folders this run created (when empty)."""
        for path in self._in_place:
            _remove(path)
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:  # what is left of it stays; the run's own error is the one to tell
                pass
        for staging in self._staging.values():
            shutil.rmtree(staging, ignore_errors=True)
        for owner in self._owners:  # its lock released: the folder is gone
            owner.close()
        self._staging, self._owners = {}, []
        self._in_place, self._obsolete, self._undo = [], [], []
        for folder in reversed(self._created):
            try:
                os.rmdir(folder)
            except OSError:
                pass
        self._created = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        return False


#: How long a commit waits for another run's commit into the same folder before it goes on.
COMMIT_PATIENCE = 30.0


@contextlib.contextmanager
def _folders_locked(folders):
    """Hold ``folders`` (sorted: two runs never wait for each other) locked while a commit moves
    files into them: two runs writing the same outputs at once each moved the other's files aside
    between its own moves, and one failed ("No such file or directory") or left a mix. A folder
    that cannot be locked (no flock, such as NFS) is not waited for."""
    held = []
    try:
        for folder in folders if fcntl is not None else ():
            try:
                descriptor = os.open(folder, os.O_RDONLY)
            except OSError:
                continue
            held.append(descriptor)
            deadline = time.monotonic() + COMMIT_PATIENCE
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:  # another run's commit: a few renames
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.005)
                except OSError:  # no locks on this file system
                    break
        yield
    finally:
        for descriptor in held:
            os.close(descriptor)


def _remove(path, folders=False):
    """Remove the file at ``path`` (with ``folders``, the folder there too), if any."""
    try:
        if folders and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    except OSError:
        pass
