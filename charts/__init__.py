"""drumscribe's chart engine: onsets and activations in, rhythm-game chart folders out.

The core transcription (``transcribe``) never imports this package;
``plugins/chart_export.py`` is the bridge. Data flow, one module per step and one
owner per file format::

    beat_net.py      activations -> beat, downbeat and tempo probabilities (a small TCN, models/beats.pt)
    beats.py         -> tempo octave -> DBN beats -> tempo segments -> bar positions
    tempo.py         -> TempoMap (tracked, --bpm or --tempo-from MIDI), warnings
    quantize.py      onsets + TempoMap -> grid positions
    chart.py         -> lanes, collisions, Expert, reduced difficulties -> Chart
    events.py        -> sections, Star Power phrases, drum fills
    mid_format.py    Chart <-> notes.mid
    chart_format.py  Chart <-> notes.chart
    song_ini.py      Chart <-> song.ini
    metadata.py      audio file -> tags, cover art (mutagen)
    folder.py        Chart + audio -> the chart folder (song.ogg, album art), atomically
    picture.py       chart folder -> PNG of its highways

See docs/charts.md.
"""
