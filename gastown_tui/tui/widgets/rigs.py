"""The Rigs pane: a tree of rig -> polecats (state glyph, hooked bead, activity age) and the
rig's unassigned ready beads, which `space` marks for a new convoy.

It stays navigable with hundreds of agents: rigs (and role and ready groups) collapse with
`left`/`-` and expand with `right`/`+`; a collapsed group's rows are not built at all, and its
label still counts the agents waiting in it; `o` cycles a state filter (waiting, working,
stuck, idle, dead); `w` jumps to the next waiting agent, opening its rig and dropping a
filter that hides it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from gastown_tui.tui.format import LOUD_STATES, ago, clip, glyph
from gastown_tui.tui.messages import BeadChosen, PolecatChosen, PolecatSelected
from gastown_tui.tui.widgets.pane import Pane, theme_style
from gastown_tui.views.rows import BeadRow, PolecatRow, RigsSnapshot

if TYPE_CHECKING:
    from gastown_tui.tui.app import GasTownApp

TITLE_WIDTH = 48
GUIDE_DEPTH = 3  # the tree's indent per level (a constant: the reactive is slow to read)
READY_SHOWN = 40  # ready beads listed per rig (by priority); the palette finds the rest
# `o` cycles these: the filter's name -> the polecat states it shows ("" shows every one).
STATE_FILTERS: dict[str, frozenset[str]] = {
    "": frozenset(),
    "waiting": frozenset({"waiting"}),
    "working": frozenset({"working", "starting"}),
    "stuck": frozenset({"stalled", "gupp"}),
    "idle": frozenset({"idle", "paused"}),
    "dead": frozenset({"zombie"}),
}


def shown_by(state_filter: str, pole: PolecatRow) -> bool:
    """Does the filter show this polecat? `dead` also takes a window whose pane died."""
    if not state_filter:
        return True
    if state_filter == "dead" and pole.window_exists and pole.alive is False:
        return True
    return pole.state in STATE_FILTERS[state_filter]


@dataclass(frozen=True)
class NodeRef:
    kind: str  # rig | role | polecat | ready | bead | more | empty
    key: str  # rig name, polecat address, bead id


class RigsTree(Tree[NodeRef]):
    BINDINGS = [
        # Tree's own space toggles a node; here it marks a ready bead (for `c`, new convoy).
        Binding("space", "toggle_mark", "Mark bead", id="mark"),
        Binding("w", "next_waiting", "Next waiting", id="rigs-next-waiting"),
        Binding("o", "cycle_filter", "Only state", id="rigs-filter"),
        Binding("left,h", "collapse", "Collapse", show=False, id="rigs-collapse"),
        Binding("right,l", "expand", "Expand", show=False, id="rigs-expand"),
        Binding("minus", "collapse_all", "Collapse rigs", show=False, id="rigs-collapse-all"),
        Binding("plus,equals_sign", "expand_all", "Expand rigs", show=False, id="rigs-expand-all"),
        Binding("j", "cursor_down", "Down", show=False, id="rigs-down"),
        Binding("k", "cursor_up", "Up", show=False, id="rigs-up"),
    ]
    # What help (`?`) says of these keys (tui/keymap.py: key_help_rows).
    KEY_HELP: ClassVar[dict[str, str]] = {
        "rigs-next-waiting": "Rigs: jump to the next agent waiting for you",
        "rigs-filter": "Rigs: show only waiting, working, stuck, idle or dead agents (cycles)",
        "rigs-collapse": "Rigs: fold the rig (or group) under the cursor",
        "rigs-expand": "Rigs: unfold it",
        "rigs-collapse-all": "Rigs: fold every rig",
        "rigs-expand-all": "Rigs: unfold every rig",
    }

    def __init__(self, on_select: Callable[[str | None], None] | None = None) -> None:
        # Told of the polecat under the cursor at once, inside the key's own handling, so the
        # Preview's title is painted in the same frame as the cursor (a PolecatSelected
        # message waits behind the frame and reached the screen ~40 ms later). None: post
        # PolecatSelected instead.
        self.on_select = on_select
        self._rebuilding = True  # the cursor moves without a person: say nothing yet
        self._selected_address: str | None = None
        super().__init__("town", id="rigs-tree")
        self._rebuilding = False
        self.show_root = False
        self.guide_depth = GUIDE_DEPTH
        self._styles: dict[tuple[str, bool], Style] = {}  # _style's, for _styles_theme
        self._styles_theme = ""
        self.rigs = RigsSnapshot()
        self.polecats: list[PolecatRow] = []
        self.marked: set[str] = set()
        self.collapsed: set[str] = set()  # "kind:key" of collapsed rig, role and ready groups
        self.state_filter = ""  # a key of STATE_FILTERS
        self.now = 0.0
        self._signature: tuple[object, ...] = ()
        self._shown: list[Text] = []  # the labels on the nodes, in order
        self._labels: dict[NodeRef, tuple[object, Text]] = {}  # NodeRef -> (key, label)
        self._width = 0  # the labels' room, taken at each rebuild
        # (bead id, the row the cursor fell to) after a slung bead left the ready list
        self._slung: tuple[str, NodeRef] | None = None

    # -- data in -----------------------------------------------------------------------
    def show(
        self,
        rigs: RigsSnapshot | None = None,
        polecats: list[PolecatRow] | None = None,
        now: float | None = None,
        *,
        force: bool = False,
    ) -> None:
        if rigs is not None:
            self.rigs = rigs
            ready_ids = {b.id for b in rigs.ready}
            self.marked &= ready_ids  # a bead slung or closed meanwhile is no longer marked
        if polecats is not None:
            self.polecats = polecats
        if now is not None:
            self.now = now
        self._rebuild(force=force)

    # -- labels ------------------------------------------------------------------------
    def _style(self, variable: str, *, bold: bool = False) -> Style:
        """theme_style, kept per theme: it parses a colour each time, and a look at 200
        polecats relabels 200 rows with three styles each."""
        key = (variable, bold)
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = theme_style(self.app, variable, bold=bold)
        return style

    def _muted(self) -> object:
        return self._style("gt-muted")

    def _rig_label(
        self, rig_name: str, prefix: str, open_count: int, ready: int, n: int, waiting: int = 0
    ) -> Text:
        text = Text()
        text.append(rig_name, style="bold")
        if waiting:
            # A collapsed rig must not hide an agent that waits for a person: first, so that
            # a narrow pane cuts the counts, not this.
            style = self._style("gt-waiting", bold=True)
            text.append(f" {glyph('waiting')}{waiting} waiting", style=style)
        text.append(f" ({prefix})", style=self._muted())
        word = "polecat" if n == 1 else "polecats"
        text.append(f"  {open_count} open · {ready} ready · {n} {word}", style=self._muted())
        return text

    def _is_collapsed(self, kind: str, key: str) -> bool:
        return f"{kind}:{key}" in self.collapsed

    def _room(self, depth: int) -> int:
        """Cells a label at `depth` may use before the tree would scroll sideways."""
        width = self._width or 80
        return max(20, width - depth * GUIDE_DEPTH - 1)

    def _polecat_label(self, pole: PolecatRow, room: int) -> Text:
        state_style = self._style(f"gt-{pole.state}")
        head = Text()
        head.append(glyph(pole.state) + " ", style=state_style)
        head.append(pole.name, style="bold")
        loud = LOUD_STATES.get(pole.state)
        if loud:
            head.append(f" {loud}", style=self._style(f"gt-{pole.state}", bold=True))
        when = ago(pole.last_activity, self.now)
        tail = Text(f"  {when}", style=self._muted()) if when else Text()
        if pole.hook is not None:
            head.append(f"  {pole.hook.id}", style=self._muted())
            # The title gives way first: state, bead id and age must stay visible.
            space = room - head.cell_len - tail.cell_len - 1
            if space >= 4:
                head.append(f" {clip(pole.hook.title, min(space, TITLE_WIDTH))}")
        elif pole.state in ("idle", "starting"):
            head.append(f"  {pole.state}", style=self._muted())
        head.append_text(tail)
        return head

    def _bead_label(self, bead: BeadRow, room: int = 80) -> Text:
        marked = bead.id in self.marked
        text = Text()
        text.append("☑ " if marked else "☐ ", style="bold" if marked else self._muted())
        text.append(bead.id, style=self._muted())
        tail = Text(f"  P{bead.priority}", style=self._muted())
        if bead.queued:
            tail.append("  queued", style=self._style("gt-stalled"))
        space = room - text.cell_len - tail.cell_len - 1
        text.append(f" {clip(bead.title, max(4, min(space, TITLE_WIDTH)))}")
        text.append_text(tail)
        return text

    # -- building ----------------------------------------------------------------------
    def _layout(self) -> list[tuple[int, NodeRef, Text, bool]]:
        """(depth, ref, label, expandable) in display order. The rows of a collapsed group
        are not built: with hundreds of agents, a folded rig costs one row."""
        rows: list[tuple[int, NodeRef, Text, bool]] = []
        if not self.rigs.rigs:
            ref = NodeRef("empty", "")
            text = "No rigs yet: add one with `gt rig add NAME PATH`"
            hint = self._label(ref, 0, False, text, lambda: Text(text, style=self._muted()))
            return [(0, ref, hint, False)]
        by_rig = self._by_rig()
        for rig in self.rigs.rigs:
            poles = by_rig.get(rig.name, [])
            folded = self._is_collapsed("rig", rig.name)
            waiting = sum(1 for p in poles if p.state == "waiting") if folded else 0
            ref = NodeRef("rig", rig.name)
            counts = (rig.prefix, rig.open_count, len(rig.ready), len(poles), waiting)
            label = self._label(ref, 0, True, counts, partial(self._rig_label, rig.name, *counts))
            rows.append((0, ref, label, True))
            if folded:
                continue
            shown = [p for p in poles if shown_by(self.state_filter, p)]
            for pole in shown:
                if not pole.role:
                    rows.append(self._polecat_row(pole, 1))
            rows.extend(self._role_groups(rig.name, shown))
            if rig.ready and not self.state_filter:
                rows.append(
                    self._plain_row(NodeRef("ready", rig.name), 1, f"ready ({len(rig.ready)})")
                )
                if self._is_collapsed("ready", rig.name):
                    continue
                for bead in rig.ready[:READY_SHOWN]:
                    ref = NodeRef("bead", bead.id)
                    key = (bead, bead.id in self.marked)
                    label = self._label(
                        ref, 2, False, key, partial(self._bead_label, bead, self._room(2))
                    )
                    rows.append((2, ref, label, False))
                if len(rig.ready) > READY_SHOWN:
                    # A big backlog would bury the polecats: the rest is one palette away.
                    more = len(rig.ready) - READY_SHOWN
                    hint = f"… {more} more: ctrl+p, sling"
                    rows.append(self._plain_row(NodeRef("more", rig.name), 2, hint))
        return rows

    def _by_rig(self) -> dict[str, list[PolecatRow]]:
        """Each rig's polecats by name."""
        by_rig: dict[str, list[PolecatRow]] = {}
        for pole in self.polecats:
            by_rig.setdefault(pole.rig, []).append(pole)
        for poles in by_rig.values():
            poles.sort(key=lambda p: p.name)
        return by_rig

    def _order(self) -> list[PolecatRow]:
        """Every polecat in the order the tree shows them (plain ones, then role groups)."""
        by_rig = self._by_rig()
        out: list[PolecatRow] = []
        for rig in self.rigs.rigs:
            poles = by_rig.get(rig.name, [])
            out += [p for p in poles if not p.role]
            out += sorted((p for p in poles if p.role), key=lambda p: (p.role, p.name))
        return out

    def _role_groups(
        self, rig: str, poles: list[PolecatRow]
    ) -> list[tuple[int, NodeRef, Text, bool]]:
        """Agents that work as a role (town/roles.py), grouped under the role's name."""
        by_role: dict[str, list[PolecatRow]] = {}
        for pole in poles:
            if pole.role:
                by_role.setdefault(pole.role, []).append(pole)
        rows: list[tuple[int, NodeRef, Text, bool]] = []
        for role, members in sorted(by_role.items()):
            busy = sum(1 for p in members if p.hook is not None)
            ref = NodeRef("role", f"{rig}:{role}")
            head = self._label(
                ref, 1, True, (busy, len(members)), partial(self._role_label, role, busy, members)
            )
            rows.append((1, ref, head, True))
            if self._is_collapsed("role", f"{rig}:{role}"):
                continue
            for pole in members:
                rows.append(self._polecat_row(pole, 2))
        return rows

    def _role_label(self, role: str, busy: int, members: list[PolecatRow]) -> Text:
        head = Text(role, style="bold")
        head.append(f"  role · {busy}/{len(members)} working", style=self._muted())
        return head

    def _plain_row(self, ref: NodeRef, depth: int, text: str) -> tuple[int, NodeRef, Text, bool]:
        """A muted row: a group's heading (expandable) or a hint (a leaf)."""
        expandable = ref.kind == "ready"
        label = self._label(ref, depth, expandable, text, lambda: Text(text, style=self._muted()))
        return (depth, ref, label, expandable)

    def _polecat_row(self, pole: PolecatRow, depth: int) -> tuple[int, NodeRef, Text, bool]:
        ref = NodeRef("polecat", pole.address)
        key = (pole, ago(pole.last_activity, self.now))
        label = self._label(
            ref, depth, False, key, lambda: self._polecat_label(pole, self._room(depth))
        )
        return (depth, ref, label, False)

    def _label(
        self, ref: NodeRef, depth: int, expandable: bool, key: object, build: Callable[[], Text]
    ) -> Text:
        """The row's label, built only when what it shows changed (`key`: its record and the
        texts that tick, like ages). An unchanged row keeps its very label object, which is
        how a rebuild knows to leave its line alone: with hundreds of agents observed every
        few seconds, only the rows that changed are built and repainted."""
        width = self._width
        full_key = (key, depth, width)
        cached = self._labels.get(ref)
        if cached is not None and cached[0] == full_key:
            return cached[1]
        label = build()
        if width > 0:
            # Cut to the pane's width with an ellipsis: a tree that scrolls sideways hides
            # the ages and states at the end of the line.
            used = depth * GUIDE_DEPTH + (2 if expandable else 0)
            label.truncate(max(8, width - used - 1), overflow="ellipsis")
        self._labels[ref] = (full_key, label)
        return label

    def on_resize(self) -> None:
        self._rebuild()

    def watch_show_vertical_scrollbar(self) -> None:
        # The scrollbar takes a column from the labels without a resize: fit them again.
        self.call_after_refresh(self._rebuild)

    def _rebuild(self, *, force: bool = False) -> None:
        if force:
            self._labels.clear()  # a theme change restyles every label
        theme = self.app.theme
        if force or theme != self._styles_theme:
            self._styles.clear()
            self._styles_theme = theme
        # Once per rebuild: Textual works the region out from the styles on every call.
        self._width = self.scrollable_content_region.width
        rows = self._layout()
        if len(self._labels) > 2 * len(rows) + 64:
            # Rows that went (slung beads, released polecats): forget their labels.
            live = {ref for _, ref, _, _ in rows}
            self._labels = {r: v for r, v in self._labels.items() if r in live}
        signature = (
            (theme, self.state_filter),
            tuple(sorted(self.collapsed)),
            tuple((d, r) for d, r, _, _ in rows),
        )
        labels = [label for _, _, label, _ in rows]
        old_signature, old_labels = self._signature, self._shown
        self._signature, self._shown = signature, labels
        if not force and signature == old_signature:
            # Same nodes: set the labels that changed, which repaints those lines only
            # (a rebuild lays the whole tree out again).
            nodes = list(_walk(self.root))
            if len(nodes) == len(labels) == len(old_labels):
                changed: set[TreeNode[NodeRef]] = set()
                for node, label, before in zip(nodes, labels, old_labels, strict=True):
                    if label is not before:
                        # TreeNode.set_label without its message per node (a call_later
                        # each): the repaint below covers them all (their node's _updates
                        # is the line cache's key).
                        node._label = self.process_label(label)
                        node._updates += 1
                        changed.add(node)
                if changed:
                    self._repaint_lines(changed)
                self._follow_slung()
                return
        cursor = self.cursor_node.data if self.cursor_node is not None else None
        old_line = self.cursor_line
        # A slung bead leaves the ready list: the cursor follows it to its polecat. The rigs
        # and the polecats reload separately, so the polecat may only show it one show later:
        # until then the cursor waits on the row that took the bead's place (`_slung`).
        lost, follow = cursor.key if cursor and cursor.kind == "bead" else None, None
        if self._slung is not None and self._slung[1] == cursor:
            lost = self._slung[0]
        self._slung = None
        if lost is not None:
            holder = next((p for p in self.polecats if p.hook and p.hook.id == lost), None)
            follow = NodeRef("polecat", holder.address) if holder else None
        self._rebuilding = True  # the cursor passes through other rows: announce the last
        try:
            self._refill(rows, cursor, old_line, lost, follow)
        finally:
            self._rebuilding = False
        self._announce()

    def _repaint_lines(self, nodes: set[TreeNode[NodeRef]]) -> None:
        """Repaint the lines on screen whose label changed, not the whole tree: a frame
        draws every widget under the region it repaints (the compositor takes their union's
        bounding box), so one bead's new title should cost one line, not the pane."""
        top = self.scroll_offset.y
        rows = [
            y
            for y, line in enumerate(self._tree_lines[top : top + self.size.height])
            if line.node in nodes
        ]
        if len(rows) > self.size.height // 2:
            self.refresh()
            return
        width = self.size.width
        self.refresh(*(Region(0, y, width, 1) for y in rows))

    def _refill(
        self,
        rows: list[tuple[int, NodeRef, Text, bool]],
        cursor: NodeRef | None,
        old_line: int,
        lost: str | None,
        follow: NodeRef | None,
    ) -> None:
        self.clear()
        parents: list[TreeNode[NodeRef]] = [self.root]
        target: TreeNode[NodeRef] | None = None
        for depth, ref, label, expandable in rows:
            del parents[depth + 1 :]
            parent = parents[depth]
            key = f"{ref.kind}:{ref.key}"
            if expandable:
                node = parent.add(label, data=ref, expand=key not in self.collapsed)
            else:
                node = parent.add_leaf(label, data=ref)
            parents.append(node)
            if ref == cursor:
                target = node
            elif ref == follow:
                target = target or node  # the bead under the cursor was slung: to its polecat
        _ = self.last_line  # lay the lines out so the nodes know their line numbers
        if target is not None and target.line >= 0:
            self.move_cursor(target)
        elif self.last_line >= 0:
            self.cursor_line = min(max(old_line, 0), self.last_line)
            if lost is not None and self.cursor_node is not None:
                self._slung = (lost, self.cursor_node.data)

    def _follow_slung(self) -> None:
        """The polecat now shows the bead the cursor was on before it was slung: go there,
        unless the person moved the cursor meanwhile."""
        if self._slung is None:
            return
        bead_id, fallback = self._slung
        if self.cursor_node is None or self.cursor_node.data != fallback:
            self._slung = None
            return
        holder = next((p for p in self.polecats if p.hook and p.hook.id == bead_id), None)
        if holder is None:
            return
        self._slung = None
        for node in _walk(self.root):
            if node.data == NodeRef("polecat", holder.address) and node.line >= 0:
                self.move_cursor(node)
                return

    # -- cursor and keys ---------------------------------------------------------------
    def cursor_ref(self) -> NodeRef | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def _announce(self) -> None:
        ref = self.cursor_ref()
        address = ref.key if ref is not None and ref.kind == "polecat" else None
        if address != self._selected_address:
            self._selected_address = address
            if self.on_select is not None:
                self.on_select(address)
            else:
                self.post_message(PolecatSelected(address))

    def watch_cursor_line(self, previous_line: int, line: int) -> None:
        super().watch_cursor_line(previous_line, line)
        if not self._rebuilding:
            self._announce()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        event.stop()
        self._announce()

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeRef]) -> None:
        ref = event.node.data
        if ref is not None and ref.kind == "polecat":
            event.stop()
            self.post_message(PolecatChosen(ref.key))
        elif ref is not None and ref.kind == "bead":
            event.stop()
            self.post_message(BeadChosen(ref.key))

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[NodeRef]) -> None:
        event.stop()
        ref = event.node.data
        if ref is not None:
            self.collapsed.add(f"{ref.kind}:{ref.key}")
            self._rebuild()  # drop the folded rows, count what waits in them

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeRef]) -> None:
        event.stop()
        ref = event.node.data
        if ref is not None:
            self.collapsed.discard(f"{ref.kind}:{ref.key}")
            self._rebuild()  # build the rows a fold left out

    def _changed(self) -> None:
        """Collapse or filter changed: rebuild, and let the pane say what is hidden."""
        self._rebuild()
        for ancestor in self.ancestors:
            if isinstance(ancestor, RigsPane):
                ancestor.update_subtitle()

    def action_collapse(self) -> None:
        """Fold the group under the cursor, or the one the cursor is in."""
        node = self.cursor_node
        while node is not None and not (node.allow_expand and node.is_expanded):
            node = node.parent if node.parent is not self.root else None
        if node is not None and node.data is not None:
            ref = node.data
            self.collapsed.add(f"{ref.kind}:{ref.key}")
            self._changed()
            self._move_to(ref)

    def action_expand(self) -> None:
        node = self.cursor_node
        ref = node.data if node is not None else None
        if ref is not None and f"{ref.kind}:{ref.key}" in self.collapsed:
            self.collapsed.discard(f"{ref.kind}:{ref.key}")
            self._changed()

    def action_collapse_all(self) -> None:
        ref = self.cursor_ref()
        rig = self._rig_of(ref) if ref is not None else None
        self.collapsed |= {f"rig:{r.name}" for r in self.rigs.rigs}
        self._changed()
        if rig is not None:
            self._move_to(NodeRef("rig", rig))

    def action_expand_all(self) -> None:
        self.collapsed = {c for c in self.collapsed if not c.startswith("rig:")}
        self._changed()

    def action_cycle_filter(self) -> None:
        names = list(STATE_FILTERS)
        self.state_filter = names[(names.index(self.state_filter) + 1) % len(names)]
        self._changed()

    def action_next_waiting(self) -> None:
        """The next agent waiting for a person after the cursor (wrapping round)."""
        order = self._order()
        waiting = [n for n, p in enumerate(order) if p.state == "waiting"]
        if not waiting:
            self.app.notify("No agent is waiting for you.", timeout=3)
            return
        here = self._position(order)
        target = next((n for n in waiting if n > here), waiting[0])
        self.reveal(order[target].address)

    def _position(self, order: list[PolecatRow]) -> float:
        """Where the cursor is in `order`: a polecat's index, or just before its rig's first."""
        ref = self.cursor_ref()
        if ref is None:
            return -1.0
        if ref.kind == "polecat":
            return next((n for n, p in enumerate(order) if p.address == ref.key), -1)
        rig = self._rig_of(ref)
        names = [r.name for r in self.rigs.rigs]
        if rig not in names:
            return -1.0
        rank = names.index(rig)
        before = sum(1 for p in order if p.rig in names[:rank])
        if ref.kind in ("ready", "bead", "more"):
            before += sum(1 for p in order if p.rig == rig)  # after the rig's polecats
        return before - 0.5

    def _rig_of(self, ref: NodeRef) -> str | None:
        if ref.kind in ("rig", "ready", "more"):
            return ref.key
        if ref.kind == "role":
            return ref.key.split(":", 1)[0]
        if ref.kind == "polecat":
            return ref.key.split("/", 1)[0]
        if ref.kind == "bead":
            return next((b.rig for b in self.rigs.ready if b.id == ref.key), None)
        return None

    def reveal(self, address: str) -> bool:
        """Put the cursor on a polecat: open its rig and role group, and drop a state filter
        that hides it. False when there is no such polecat."""
        pole = next((p for p in self.polecats if p.address == address), None)
        if pole is None:
            return False
        folds = {f"rig:{pole.rig}", f"role:{pole.rig}:{pole.role}"}
        hidden = not shown_by(self.state_filter, pole)
        if hidden:
            self.state_filter = ""
        if hidden or folds & self.collapsed:
            self.collapsed -= folds
            self._changed()
        return self._move_to(NodeRef("polecat", address))

    def _move_to(self, ref: NodeRef) -> bool:
        for node in _walk(self.root):
            if node.data == ref:
                _ = self.last_line  # lay the lines out so the node knows its line
                self.move_cursor(node)
                self.scroll_to_node(node)
                return True
        return False

    def action_toggle_mark(self) -> None:
        node = self.cursor_node
        ref = node.data if node is not None else None
        if node is None or ref is None or ref.kind != "bead":
            if node is not None and node.allow_expand:
                node.toggle()
            return
        if ref.key in self.marked:
            self.marked.discard(ref.key)
        else:
            self.marked.add(ref.key)
        self._changed()  # relabels that one row (its key holds the mark), counts the marks
        self.action_cursor_down()


class RigsPane(Pane):
    PANE = "rigs"
    TITLE = "Rigs"
    KEY_OWNERS = (RigsTree,)

    def __init__(self, on_select: Callable[[str | None], None] | None = None) -> None:
        super().__init__()
        self._on_select = on_select

    @classmethod
    def build(cls, app: GasTownApp) -> RigsPane:
        return cls(on_select=app.selection_moved)

    def compose(self):  # type: ignore[override]
        yield RigsTree(self._on_select)

    @property
    def tree(self) -> RigsTree:
        return self.query_one(RigsTree)

    def show(
        self,
        rigs: RigsSnapshot | None = None,
        polecats: list[PolecatRow] | None = None,
        now: float | None = None,
        *,
        force: bool = False,
    ) -> None:
        self.tree.show(rigs, polecats, now, force=force)
        self.update_subtitle()

    def update_subtitle(self) -> None:
        """Marks and a state filter, which hide or change what the pane does."""
        tree = self.tree
        parts = []
        if tree.marked:
            parts.append(f"{len(tree.marked)} marked · c: convoy")
        if tree.state_filter:
            shown = sum(1 for p in tree.polecats if shown_by(tree.state_filter, p))
            parts.append(f"only {tree.state_filter}: {shown} of {len(tree.polecats)} · o: next")
        self.set_border(subtitle=" · ".join(parts))

    def selected_beads(self) -> list[BeadRow]:
        """Marked ready beads, or the one under the cursor when none is marked."""
        tree = self.tree
        ready = {b.id: b for b in tree.rigs.ready}
        if tree.marked:
            return [ready[i] for i in sorted(tree.marked) if i in ready]
        ref = tree.cursor_ref()
        if ref is not None and ref.kind == "bead" and ref.key in ready:
            return [ready[ref.key]]
        return []

    def cursor_rig(self) -> str | None:
        """The rig the cursor is in (for the sling dialog's default)."""
        node = self.tree.cursor_node
        while node is not None:
            ref = node.data
            if ref is not None and ref.kind in ("rig", "ready"):
                return ref.key
            node = node.parent
        return None

    def clear_marks(self) -> None:
        self.tree.marked.clear()
        self.show(force=True)

    def select_polecat(self, address: str) -> bool:
        return self.tree.reveal(address)

    def select_rig(self, rig: str) -> bool:
        return self.tree._move_to(NodeRef("rig", rig))


def _walk(node: TreeNode[NodeRef]):  # type: ignore[no-untyped-def]
    for child in node.children:
        yield child
        yield from _walk(child)
