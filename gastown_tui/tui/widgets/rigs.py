"""The Rigs pane: a tree of rig -> polecats (state glyph, hooked bead, activity age) and the
rig's unassigned ready beads, which `space` marks for a new convoy."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from gastown_tui.tui.format import LOUD_STATES, ago, clip, glyph
from gastown_tui.tui.messages import BeadChosen, PolecatChosen, PolecatSelected
from gastown_tui.tui.widgets.pane import Pane, theme_style
from gastown_tui.views.rows import BeadRow, PolecatRow, RigsSnapshot

TITLE_WIDTH = 48
READY_SHOWN = 40  # ready beads listed per rig (by priority); the palette finds the rest


@dataclass(frozen=True)
class NodeRef:
    kind: str  # rig | role | polecat | ready | bead | more | empty
    key: str  # rig name, polecat address, bead id


class RigsTree(Tree[NodeRef]):
    BINDINGS = [
        # Tree's own space toggles a node; here it marks a ready bead (for `c`, new convoy).
        Binding("space", "toggle_mark", "Mark bead", id="mark"),
        Binding("j", "cursor_down", "Down", show=False, id="rigs-down"),
        Binding("k", "cursor_up", "Up", show=False, id="rigs-up"),
    ]

    def __init__(self) -> None:
        super().__init__("town", id="rigs-tree")
        self.show_root = False
        self.guide_depth = 3
        self.rigs = RigsSnapshot()
        self.polecats: list[PolecatRow] = []
        self.marked: set[str] = set()
        self.collapsed: set[str] = set()
        self.now = 0.0
        self._signature: tuple[object, ...] = ()
        self._selected_address: str | None = None
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
    def _muted(self) -> object:
        return theme_style(self.app, "gt-muted")

    def _rig_label(self, rig_name: str, prefix: str, open_count: int, ready: int, n: int) -> Text:
        text = Text()
        text.append(rig_name, style="bold")
        text.append(f" ({prefix})", style=self._muted())
        word = "polecat" if n == 1 else "polecats"
        text.append(f"  {open_count} open · {ready} ready · {n} {word}", style=self._muted())
        return text

    def _room(self, depth: int) -> int:
        """Cells a label at `depth` may use before the tree would scroll sideways."""
        width = self.scrollable_content_region.width or 80
        return max(20, width - depth * self.guide_depth - 1)

    def _polecat_label(self, pole: PolecatRow, room: int) -> Text:
        state_style = theme_style(self.app, f"gt-{pole.state}")
        head = Text()
        head.append(glyph(pole.state) + " ", style=state_style)
        head.append(pole.name, style="bold")
        loud = LOUD_STATES.get(pole.state)
        if loud:
            head.append(f" {loud}", style=theme_style(self.app, f"gt-{pole.state}", bold=True))
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
            tail.append("  queued", style=theme_style(self.app, "gt-stalled"))
        space = room - text.cell_len - tail.cell_len - 1
        text.append(f" {clip(bead.title, max(4, min(space, TITLE_WIDTH)))}")
        text.append_text(tail)
        return text

    # -- building ----------------------------------------------------------------------
    def _layout(self) -> list[tuple[int, NodeRef, Text, bool]]:
        """(depth, ref, label, expandable) in display order."""
        rows: list[tuple[int, NodeRef, Text, bool]] = []
        by_rig: dict[str, list[PolecatRow]] = {}
        for pole in self.polecats:
            by_rig.setdefault(pole.rig, []).append(pole)
        if not self.rigs.rigs:
            hint = Text("No rigs yet: add one with `gt rig add NAME PATH`", style=self._muted())
            return [(0, NodeRef("empty", ""), hint, False)]
        for rig in self.rigs.rigs:
            poles = sorted(by_rig.get(rig.name, []), key=lambda p: p.name)
            label = self._rig_label(
                rig.name, rig.prefix, rig.open_count, len(rig.ready), len(poles)
            )
            rows.append((0, NodeRef("rig", rig.name), label, True))
            for pole in poles:
                if not pole.role:
                    label = self._polecat_label(pole, self._room(1))
                    rows.append((1, NodeRef("polecat", pole.address), label, False))
            rows.extend(self._role_groups(rig.name, poles))
            if rig.ready:
                group = Text(f"ready ({len(rig.ready)})", style=self._muted())
                rows.append((1, NodeRef("ready", rig.name), group, True))
                for bead in rig.ready[:READY_SHOWN]:
                    label = self._bead_label(bead, self._room(2))
                    rows.append((2, NodeRef("bead", bead.id), label, False))
                if len(rig.ready) > READY_SHOWN:
                    # A big backlog would bury the polecats: the rest is one palette away.
                    more = len(rig.ready) - READY_SHOWN
                    hint = Text(f"… {more} more: ctrl+p, sling", style=self._muted())
                    rows.append((2, NodeRef("more", rig.name), hint, False))
        return rows

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
            head = Text(role, style="bold")
            head.append(f"  role · {busy}/{len(members)} working", style=self._muted())
            rows.append((1, NodeRef("role", f"{rig}:{role}"), head, True))
            for pole in members:
                label = self._polecat_label(pole, self._room(2))
                rows.append((2, NodeRef("polecat", pole.address), label, False))
        return rows

    def _fit(self, rows: list[tuple[int, NodeRef, Text, bool]]) -> None:
        """Cut labels to the pane's width with an ellipsis: a tree that scrolls sideways
        hides the ages and states at the end of the line."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        for depth, _ref, label, expandable in rows:
            used = depth * self.guide_depth + (2 if expandable else 0)
            label.truncate(max(8, width - used - 1), overflow="ellipsis")

    def on_resize(self) -> None:
        self._rebuild()

    def _rebuild(self, *, force: bool = False) -> None:
        rows = self._layout()
        self._fit(rows)
        signature = (
            self.app.theme,
            tuple(self.collapsed),
            tuple((d, r, t.plain, str(t.spans)) for d, r, t, _ in rows),
        )
        if signature == self._signature and not force:
            return
        old, self._signature = self._signature, signature
        if not force and old[:2] == signature[:2] and self._relabel(rows, old[2]):
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
        self._announce()

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

    def _relabel(
        self, rows: list[tuple[int, NodeRef, Text, bool]], shown: tuple[object, ...]
    ) -> bool:
        """Same nodes, new labels (an age ticked, a state changed): set the labels in place,
        which repaints those lines only. A rebuild lays the whole screen out again, and the
        polecats are observed every few seconds. False when the nodes differ."""
        nodes = list(_walk(self.root))
        if len(nodes) != len(rows) or len(shown) != len(rows):
            return False
        if any(node.data != ref for node, (_, ref, _, _) in zip(nodes, rows, strict=True)):
            return False
        for node, (depth, ref, label, _), before in zip(nodes, rows, shown, strict=True):
            if before != (depth, ref, label.plain, str(label.spans)):
                node.set_label(label)
        return True

    # -- cursor and keys ---------------------------------------------------------------
    def cursor_ref(self) -> NodeRef | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def _announce(self) -> None:
        ref = self.cursor_ref()
        address = ref.key if ref is not None and ref.kind == "polecat" else None
        if address != self._selected_address:
            self._selected_address = address
            self.post_message(PolecatSelected(address))

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
        ref = event.node.data
        if ref is not None:
            self.collapsed.add(f"{ref.kind}:{ref.key}")

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeRef]) -> None:
        ref = event.node.data
        if ref is not None:
            self.collapsed.discard(f"{ref.kind}:{ref.key}")

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
        bead = next((b for b in self.rigs.ready if b.id == ref.key), None)
        if bead is not None:
            node.set_label(self._bead_label(bead, self._room(2)))
        self.action_cursor_down()


class RigsPane(Pane):
    PANE = "rigs"
    TITLE = "Rigs"
    KEY_OWNERS = (RigsTree,)

    def compose(self):  # type: ignore[override]
        yield RigsTree()

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
        tree = self.tree
        tree.show(rigs, polecats, now, force=force)
        marked = len(tree.marked)
        self.set_border(subtitle=f"{marked} marked · c: convoy" if marked else "")

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
        tree = self.tree
        for node in _walk(tree.root):
            if node.data == NodeRef("polecat", address):
                if node.parent is not None:
                    node.parent.expand()
                _ = tree.last_line
                tree.move_cursor(node)
                return True
        return False

    def select_rig(self, rig: str) -> bool:
        tree = self.tree
        for node in _walk(tree.root):
            if node.data == NodeRef("rig", rig):
                _ = tree.last_line
                tree.move_cursor(node)
                return True
        return False


def _walk(node: TreeNode[NodeRef]):  # type: ignore[no-untyped-def]
    for child in node.children:
        yield child
        yield from _walk(child)
