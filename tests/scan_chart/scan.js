// Scan chart folders with scan-chart (the Clone Hero / YARG community's chart scanner)
// and print one JSON line per folder: folder, playable, issue names, and the counts the
// tests check (Star Power phrases, drum fills, sections, notes per difficulty).
// Usage: node scan.js FOLDER [FOLDER ...]
const fs = require('fs');
const path = require('path');
const { scanChartFolder, parseChartFile } = require('scan-chart');

for (const dir of process.argv.slice(2)) {
  const files = fs.readdirSync(dir)
    .filter(f => fs.statSync(path.join(dir, f)).isFile())
    .map(f => ({ fileName: f, data: new Uint8Array(fs.readFileSync(path.join(dir, f))) }));
  const r = scanChartFolder(files, { includeMd5: false });
  const issues = [];
  for (const i of r.folderIssues || []) issues.push(i.folderIssue);
  for (const i of r.metadataIssues || []) issues.push(i);
  const nd = r.notesData || {};
  for (const i of nd.chartIssues || []) issues.push(i.noteIssue);
  const out = {
    folder: dir, playable: r.playable, issues,
    details: [].concat(r.folderIssues || [], (nd.chartIssues || []).slice(0, 20)),
    drumType: nd.drumType, hasActivationLanes: nd.hasActivationLanes,
    hasStarPower: nd.hasStarPower, hasSections: nd.hasSections,
    noteCounts: nd.noteCounts, tempoCount: (nd.tempoMarkers || []).length,
    metadataIssues: r.metadataIssues, name: r.name, artist: r.artist, album: r.album,
    genre: r.genre, year: r.year, song_length: r.song_length, albumArt: !!r.albumArt,
  };
  const chartFile = files.find(f => f.fileName === 'notes.mid' || f.fileName === 'notes.chart');
  if (chartFile) {
    const parsed = parseChartFile(chartFile.data, chartFile.fileName.endsWith('.mid') ? 'mid' : 'chart',
                                  { pro_drums: true });
    out.sections = parsed.sections.length;
    out.tempos = parsed.tempos.length;
    out.tracks = parsed.trackData.map(t => ({
      instrument: t.instrument, difficulty: t.difficulty, notes: t.noteEventGroups.length,
      starPower: t.starPowerSections.length, fills: t.drumFreestyleSections.length,
    }));
  }
  console.log(JSON.stringify(out));
}
