"""What the workspace calls its dashboards and their filters: the names a plan resolves and shows.

One `GET /dashboards/list_metadata` gives every dashboard's id, title, uname, project and format, so
titles and dashboard names cost one request however many dashboards the schedules span. Filter
unames live only in each dashboard's own definition (`GET /dashboards/{id}`), so they are read only
for the dashboards asked for (`filters_of`, `read_filters`): a dashboard not read answers None,
never "no filters", so a caller cannot mistake "not read" for "has none".

`Catalog` is what `desired` resolves names against (the `NameCatalog` protocol of `kinds.names`:
`dashboard_ids`, `dashboard_unames`, `filter_ids`), and what views read titles and unames from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from reconciler.kinds.names import NameCatalog


class DashboardReader(Protocol):
    """The two client calls a catalog is read with (`HolisticsClient` has them; tests may fake them)."""

    def dashboards_metadata(self) -> list[dict[str, Any]]: ...

    def get_dashboard(self, dashboard_id: int) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DashboardMeta:
    """One item of `list_metadata`, its fields checked: what is not of the spec's type counts as absent."""

    id: int
    title: str | None
    uname: str | None
    project_id: int | None
    version: int | None

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> DashboardMeta:
        def typed(key: str, kind: type) -> Any:
            value = item.get(key)
            # bool is an int to Python, never an id or a version to the API
            return value if isinstance(value, kind) and not isinstance(value, bool) else None

        uname = typed("uname", str)
        return cls(
            id=int(item["id"]),
            title=typed("title", str),
            uname=uname or None,  # an empty uname names nothing
            project_id=typed("project_id", int),
            version=typed("version", int),
        )


def _filters_of(dashboard: Mapping[str, Any]) -> dict[str, int | str]:
    """uname -> id of a dashboard definition's `dynamic_filters` (filters without a uname are left out)."""
    found: dict[str, int | str] = {}
    filters = dashboard.get("dynamic_filters")
    for item in filters if isinstance(filters, list) else []:
        if not isinstance(item, dict):
            continue
        uname, fid = item.get("uname"), item.get("id")
        if isinstance(uname, str) and uname and isinstance(fid, int | str) and not isinstance(fid, bool):
            found.setdefault(uname, fid)
    return found


class Catalog:
    """The workspace's dashboards by id and by uname, and the filters of the dashboards read."""

    def __init__(
        self,
        metadata: Iterable[Mapping[str, Any]],
        dashboards: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> None:
        self._by_id: dict[int, DashboardMeta] = {}
        self._by_uname: dict[str, list[DashboardMeta]] = {}
        for item in metadata:
            meta = DashboardMeta.of(item)
            self._by_id[meta.id] = meta
            if meta.uname is not None:
                self._by_uname.setdefault(meta.uname, []).append(meta)
        self._filters: dict[int, dict[str, int | str]] = {}
        for dashboard_id, definition in (dashboards or {}).items():
            self.add_dashboard(dashboard_id, definition)

    # -- NameCatalog ---------------------------------------------------------------------------------

    def dashboard_ids(self, uname: str) -> Sequence[tuple[int, int | None]]:
        """(id, project_id) of every dashboard named `uname`: none, one, or several (one per AML project)."""
        return [(meta.id, meta.project_id) for meta in sorted(self._by_uname.get(uname, ()), key=lambda m: m.id)]

    def dashboard_unames(self) -> Sequence[str]:
        """Every uname the workspace has, sorted (the candidates of a "did you mean")."""
        return sorted(self._by_uname)

    def filter_ids(self, dashboard_id: int) -> Mapping[str, int | str] | None:
        """Filter uname -> filter id of a dashboard read; None when its definition was not read."""
        found = self._filters.get(dashboard_id)
        return dict(found) if found is not None else None

    # -- for views -----------------------------------------------------------------------------------

    def title(self, dashboard_id: int) -> str | None:
        meta = self._by_id.get(dashboard_id)
        return meta.title if meta is not None else None

    def uname(self, dashboard_id: int) -> str | None:
        """The dashboard's uname; None for a canvas dashboard, or one the workspace does not list."""
        meta = self._by_id.get(dashboard_id)
        return meta.uname if meta is not None else None

    def project_id(self, dashboard_id: int) -> int | None:
        meta = self._by_id.get(dashboard_id)
        return meta.project_id if meta is not None else None

    def version(self, dashboard_id: int) -> int | None:
        meta = self._by_id.get(dashboard_id)
        return meta.version if meta is not None else None

    def has(self, dashboard_id: int) -> bool:
        """Whether list_metadata lists this dashboard id."""
        return dashboard_id in self._by_id

    def ids(self) -> Sequence[int]:
        return sorted(self._by_id)

    def filter_uname(self, dashboard_id: int, filter_id: int | str) -> str | None:
        """The uname of a dashboard's filter (a filter id may be given as a number or its digits);
        None when the dashboard was not read or the filter has no uname."""
        for uname, fid in (self._filters.get(dashboard_id) or {}).items():
            if str(fid) == str(filter_id):
                return uname
        return None

    # -- reading ---------------------------------------------------------------------------------------

    def add_dashboard(self, dashboard_id: int, definition: Mapping[str, Any]) -> None:
        """Take a dashboard's filters from its definition (`GET /dashboards/{id}`'s `dashboard`)."""
        self._filters[int(dashboard_id)] = _filters_of(definition)

    def read_filters(self, client: DashboardReader, ids: Iterable[int]) -> None:
        """Read the definitions of the dashboards in `ids` not read yet, one GET each, in id order."""
        for dashboard_id in sorted({int(i) for i in ids} - self._filters.keys()):
            self.add_dashboard(dashboard_id, client.get_dashboard(dashboard_id))


def read_catalog(client: DashboardReader, filters_of: Iterable[int] = ()) -> Catalog:
    """The catalog from one list_metadata request, plus one GET per dashboard of `filters_of`.
    Raises `NamesUnavailable` where the workspace does not offer list_metadata."""
    catalog = Catalog(client.dashboards_metadata())
    catalog.read_filters(client, filters_of)
    return catalog


if TYPE_CHECKING:
    # mypy holds Catalog to the protocol the desired side resolves names through
    _a_name_catalog: NameCatalog = Catalog(())
